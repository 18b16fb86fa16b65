"""The Textual dashboard: views of the Session, fed by training events."""
