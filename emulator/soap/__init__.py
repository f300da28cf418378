"""The SOAP side of the emulator: envelopes, the bytes → bytes request pipeline,
header security and fault injection."""
