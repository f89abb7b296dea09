"""Peers that smsgate did not write, for its connectors to be tested against.

``smsc.ForeignSmsc`` is an SMPP 3.4 SMSC whose bytes come from smpplib; nothing in this
package imports smsgate (``test_foreign_smsc.py`` checks that).
"""
