"""The accept path both ports share: parse, claim the id, reserve room, journal, hand off."""
