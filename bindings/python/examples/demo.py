"""First demo: two databases, documents saved in a batch, and the changes feed.

Run with `make demo`. (A later version will sync the two databases over TLS.)
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import p2psync


def main() -> None:
    print(f"libp2psync {p2psync.library_version()} (ABI {p2psync.abi_version()})")
    with tempfile.TemporaryDirectory(prefix="p2psync-demo-") as tmp:
        alice_path, bob_path = Path(tmp) / "alice", Path(tmp) / "bob"
        with p2psync.Database(alice_path) as alice, p2psync.Database(bob_path) as bob, \
                alice.create_collection("notes", scope="app") as alice_notes, \
                bob.create_collection("notes", scope="app") as bob_notes:
            print(f"opened {alice.name} ({alice.uuid}) and {bob.name} ({bob.uuid})")

            heard = threading.Event()
            events = []

            def on_change(event: p2psync.ChangeEvent) -> None:
                events.append(event)
                heard.set()

            with alice_notes.add_change_listener(on_change):
                first = alice_notes.save("groceries", {"items": ["milk", "bread"]})
                alice_notes.save("groceries", {"items": ["milk", "bread", "eggs"]}, parent_rev_id=first.rev_id,
                                 concurrency=p2psync.Concurrency.FAIL_ON_CONFLICT)
                with alice.batch() as batch:
                    for i in range(3):
                        batch.save(alice_notes, f"todo-{i}", {"title": f"task {i}", "done": False})
                heard.wait(5)

            bob_notes.save("hello", {"from": "bob"})

            print(f"\n{alice.name}: {alice_notes.count()} documents; changes feed:")
            for change in alice_notes.changes():
                doc = alice_notes.get(change.id)
                print(f"  seq {change.sequence:>2}  {change.id:<10} {change.rev_id[:12]}…  {doc.body}")
            print(f"{bob.name}: {bob_notes.count()} document(s): {[c.id for c in bob_notes.changes()]}")
            print(f"listener heard {len(events)} event(s): "
                  f"{[[c.id for c in e.changes] for e in events]}")
    assert p2psync.live_handles() == 0
    print("\ndemo OK")


if __name__ == "__main__":
    main()
