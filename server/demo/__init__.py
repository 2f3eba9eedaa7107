"""The demo content pack: slide videos rendered here (Pillow, PyAV) and reading notes written for the project."""
