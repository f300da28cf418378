"""The three ends the emulator plays: the debtor system's ØIR services, PSRM, and
the fagsystem's callback. Thin: decode, call the domain, store, encode."""
