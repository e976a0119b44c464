"""`make demo`: the demo clinic in the browser. Builds out/demo.db with `pathway demo` if it is
missing, brings its schema up to date, makes one account per role (random passwords, kept in
out/demo-accounts.json so a second run prints the same ones), prints the URL and the accounts,
and serves the app on the loopback interface until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROLES = ("coordinator", "clinician", "quality", "admin")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="out", help="Folder of the demo database.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--no-serve", action="store_true", help="Prepare, print, do not serve.")
    args = parser.parse_args()
    out = Path(args.out)
    db = out / "demo.db"
    pathway = str(Path(sys.executable).with_name("pathway"))
    if not db.exists():
        subprocess.run([pathway, "demo", "--out", str(out)], check=True)
    else:
        print(f"using the demo database {db} (delete it to simulate a new clinic)")
    subprocess.run([pathway, "init-db", "--db", str(db)], check=True, stdout=subprocess.DEVNULL)

    from engine import make_engine
    from engine.web.accounts import Accounts

    saved = out / "demo-accounts.json"
    known: dict[str, dict[str, str]] = json.loads(saved.read_text()) if saved.exists() else {}
    engine = make_engine(f"sqlite:///{db}", create=False)
    try:
        store = Accounts(engine)
        live = {u["name"]: u for u in store.list_users() if not u["disabled"]}
        known = {n: a for n, a in known.items() if n in live}  # a rebuilt database forgets them
        for role in ROLES:
            if any(a["role"] == role for a in known.values()):
                continue
            name = f"demo-{role}"
            if name in live or any(u["name"] == name for u in store.list_users()):
                name = f"demo-{role}-{secrets.token_hex(2)}"  # its password is not ours to print
            known[name] = {"role": role, "password": secrets.token_urlsafe(12)}
            store.add_user(name, role=role, password=known[name]["password"])
    finally:
        engine.dispose()
    saved.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
    saved.chmod(0o600)
    url = f"http://{args.host}:{args.port}/"
    print(f"\npathway web app: {url}\n\naccounts (also in {saved}):")
    for name, a in sorted(known.items(), key=lambda kv: ROLES.index(kv[1]["role"])):
        print(f"  {a['role']:<12} {name:<24} password {a['password']}")
    print("\nCtrl-C stops the server; `pathway demo --out DIR` is the batch job.\n", flush=True)
    if not args.no_serve:
        cmd = [pathway, "serve", "--db", str(db), "--host", args.host, "--port", str(args.port)]
        os.execv(pathway, cmd)


if __name__ == "__main__":
    main()
