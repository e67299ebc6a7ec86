"""The v1 wire format, shared by the server and the SDK. Pure: no I/O, no SQL."""
