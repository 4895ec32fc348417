"""Two databases in one process, synced over TLS with the Python binding.

"alpha" is served by a Listener (TLS with its anonymous identity, one accepted user, a port
the system picks); "beta" runs a one-shot push-and-pull Replicator that pins alpha's
certificate and logs in. Both sides create the same document first, so the replicator
meets a conflict; the resolver merges the two bodies.

Run from the repository root after `make build` (tests/python/test_examples.py does):
    P2PSYNC_LIBRARY=build/lib/libp2psync.so PYTHONPATH=bindings/python \\
        python3 examples/python/sync_two_databases.py
"""

import tempfile
from pathlib import Path

import p2psync


def merge(conflict: p2psync.Conflict) -> dict:
    """Keeps the fields of both sides; the remote side wins a field both changed."""
    print(f"conflict on {conflict.doc_id}: local {conflict.local}, remote {conflict.remote}")
    return {**(conflict.local or {}), **(conflict.remote or {})}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="p2psync-example-") as tmp:
        with p2psync.Database(Path(tmp) / "alpha") as alpha, p2psync.Database(Path(tmp) / "beta") as beta, \
                alpha.default_collection() as alpha_docs, beta.default_collection() as beta_docs:
            with alpha.batch() as batch:
                for i in range(50):
                    batch.save(alpha_docs, f"alpha-{i}", {"n": i})
            with beta.batch() as batch:
                for i in range(50):
                    batch.save(beta_docs, f"beta-{i}", {"n": i})
            alpha_docs.save("shared", {"title": "shopping list", "milk": 2})
            beta_docs.save("shared", {"title": "shopping list", "eggs": 12})

            with p2psync.Listener(alpha, network_interface="127.0.0.1", credentials={"beta": "s3cret"}) as listener:
                listener.start()
                with listener.tls_identity() as identity:
                    print(f"alpha listening on {listener.urls[0]}, certificate SHA-256 {identity.fingerprint}")
                    pin = identity.chain_pem  # two processes would compare the fingerprint instead
                with p2psync.Replicator(beta, listener.urls[0], username="beta", password="s3cret",
                                        trust_mode=p2psync.TrustMode.PINNED, pinned_certificate=pin,
                                        collections=[p2psync.ReplicationCollection(beta_docs,
                                                                                   conflict_resolver=merge)]) as repl:
                    repl.start()
                    status = repl.wait(60)  # one-shot: returns once caught up and stopped
                    if status.error is not None:
                        raise status.error
            print(f"alpha has {alpha_docs.count()} documents, beta has {beta_docs.count()}")
            print("shared on alpha:", alpha_docs.get("shared").body)
            assert alpha_docs.count() == beta_docs.count() == 101
            assert alpha_docs.get("shared").body == {"title": "shopping list", "milk": 2, "eggs": 12}
    assert p2psync.live_handles() == 0
    print("example OK")


if __name__ == "__main__":
    main()
