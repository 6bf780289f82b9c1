"""Payment files sent to banks: ISO 20022 pain.001 credit transfer initiations.

``build_pain001`` / ``write_pain001`` take :class:`cio_desktop.domain.credit_transfer.CreditTransfer`
values and return (or atomically write) a file validated against the official XSD;
``validate_pain001`` checks any pain.001 bytes against it. See ``pain001`` for the rules.
"""

from cio_desktop.integrations.payment_files.pain001 import (build_pain001, transliterate,
                                                            write_pain001)
from cio_desktop.integrations.payment_files.xsd import (SUPPORTED_VERSIONS, namespace_for,
                                                        validate_pain001)

__all__ = ["build_pain001", "write_pain001", "validate_pain001", "transliterate",
           "namespace_for", "SUPPORTED_VERSIONS"]
