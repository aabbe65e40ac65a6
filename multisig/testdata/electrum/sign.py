#!/usr/bin/python3
# Signs a PSBT with Electrum (Debian's python3-electrum), offline, as one
# cosigner of the known regtest 2-of-3 (shared/interop/core-v31.99). Usage:
#   sign.py MNEMONIC_INDEX IN.psbt.b64 OUT.psbt.b64
import sys, tempfile, base64
from electrum import constants, keystore, bip32
from electrum.simple_config import SimpleConfig
from electrum.wallet_db import WalletDB
from electrum.storage import WalletStorage
from electrum.wallet import Wallet
from electrum.transaction import tx_from_any

from electrum import util
loop, stop_loop, loop_thread = util.create_and_start_event_loop()
constants.set_regtest()
MNEMONICS = [
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
    "legal winner thank year wave sausage worth useful legal winner thank yellow",
    "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
]
PATH = "m/48'/1'/0'/2'"
me = int(sys.argv[1])
tmp = tempfile.mkdtemp()
config = SimpleConfig({'electrum_path': tmp})
db = WalletDB('', manual_upgrades=False)
db.put('wallet_type', '2of3')
for i, words in enumerate(MNEMONICS):
    full = keystore.from_bip43_rootseed(keystore.bip39_to_seed(words, ''), PATH, xtype='p2wsh')
    ks = full
    if i != me:
        ks = keystore.from_master_key(full.get_master_public_key())
        ks.add_key_origin(derivation_prefix=PATH, root_fingerprint=full.get_root_fingerprint())
    db.put('x%d/' % (i + 1), ks.dump())
wallet = Wallet(db, WalletStorage(tmp + '/w'), config=config)
wallet.synchronize()
tx = tx_from_any(open(sys.argv[2]).read().strip())
tx.add_info_from_wallet(wallet)
wallet.sign_transaction(tx, password=None)
out = tx.serialize_as_bytes(force_psbt=True)
open(sys.argv[3], 'w').write(base64.b64encode(out).decode())
print("complete" if tx.is_complete() else "partial", file=sys.stderr)
loop.call_soon_threadsafe(stop_loop.set_result, 1)
loop_thread.join(timeout=5)
