"""Which secret store the application uses."""

from pathlib import Path


def test_os_keyring_never_picks_a_prompting_file_backend(monkeypatch):
    """keyrings.cryptfile registers itself with keyring; on a machine without a desktop keyring
    the 'os' choice must find none (the caller falls back to a passphrase) instead of prompting."""
    import keyring
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    from cio_desktop.security.keystore import open_secret_store

    monkeypatch.setattr(keyring, "get_keyring", lambda: CryptFileKeyring())
    assert open_secret_store(Path("/tmp"), environ={"CIO_KEYRING": "os"}) is None
