"""Privacy: PII masking for what Kefu stores, logs and exports, and the right to be forgotten."""

from bot.privacy.pii import PiiMasker, PrivacySettings, find_pii, mask_text

__all__ = ["PiiMasker", "PrivacySettings", "find_pii", "mask_text"]
