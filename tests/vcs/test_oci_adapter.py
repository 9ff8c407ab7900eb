"""OciAdapter behaviour beyond the contract: a write that lands while a fetch lists the registry,
bearer tokens against a registry that takes only those, and a layer entry outside the package."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import secrets
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from porch_embedded.errors import PackageContentInvalid, RepositoryAuthFailed
from porch_embedded.vcs import Credentials, DraftWrite, OciAdapter, OciStorage
from tests.parts.registry import Registry, oci_registry, start_registry, stop_process

__all__ = ["oci_registry"]


async def test_a_write_that_lands_while_a_fetch_lists_is_not_lost_from_the_snapshot(oci_registry: Registry) -> None:
    storage = OciStorage()
    spec = storage.parse({"metadata": {"name": "race"},
                          "spec": {"oci": {"registry": f"{oci_registry.host}/r{secrets.token_hex(4)}"}}})
    async with storage.open(spec, Credentials(oci_registry.username, oci_registry.password)) as repo:
        assert isinstance(repo, OciAdapter)
        listed = repo._listing_blocking

        def listing_then_a_write(**options: Any) -> dict[tuple[str, str], str]:
            listing = listed(**options)  # what the registry held before the write below
            trio.from_thread.run(repo.save_draft, DraftWrite("late", "ws", {"Kptfile": "a: 1\n"}))
            return listing

        repo._listing_blocking = listing_then_a_write  # type: ignore[method-assign]
        await repo.fetch()
        assert [(r.package, r.workspace) for r in (await repo.snapshot()).revisions] == [("late", "ws")]
        repo._listing_blocking = listed  # type: ignore[method-assign]
        assert (await repo.fetch()) == (await repo.snapshot()).version
        assert [(r.package, r.workspace) for r in (await repo.snapshot()).revisions] == [("late", "ws")]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bearer_token(key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate, access: list[dict[str, Any]]) -> str:
    """A registry token (ES256 JWT with the signing certificate in x5c), as a token server issues it."""
    header = {"alg": "ES256", "typ": "JWT",
              "x5c": [base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()]}
    now = int(time.time())
    claims = {"iss": "test-issuer", "sub": "porch", "aud": "test-registry", "iat": now, "nbf": now - 60,
              "exp": now + 3600, "jti": secrets.token_hex(8), "access": access}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[tuple[Registry, ec.EllipticCurvePrivateKey, x509.Certificate]]:
    """A registry that takes only bearer tokens signed by a key of this test (Debian's docker-registry)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-token-signer")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    bundle = tmp_path / "token-signer.pem"
    bundle.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "registry").mkdir()
    registry, process = start_registry(tmp_path / "registry", auth=(
        f"{{token: {{realm: 'http://127.0.0.1:9/token', service: test-registry, issuer: test-issuer, "
        f"rootcertbundle: {bundle}}}}}"))
    try:
        yield registry, key, certificate
    finally:
        stop_process(process)


async def test_bearer_tokens_of_the_secret_authenticate_and_a_refused_one_names_the_secret(
        token_registry: tuple[Registry, ec.EllipticCurvePrivateKey, x509.Certificate]) -> None:
    registry, key, certificate = token_registry
    storage = OciStorage()
    spec = storage.parse({"metadata": {"name": "tokens"}, "spec": {"oci": {
        "registry": f"{registry.host}/tok", "secretRef": {"name": "tokens-auth"}}}})
    access = [{"type": "registry", "name": "catalog", "actions": ["*"]},
              {"type": "repository", "name": "tok/app", "actions": ["pull", "push", "delete"]}]
    good = Credentials(bearer_token=bearer_token(key, certificate, access))
    async with storage.open(spec, good) as repo:
        draft = await repo.save_draft(DraftWrite("app", "ws", {"Kptfile": "a: 1\n"}, task={"type": "init"}))
        assert await repo.read_package(draft) == {"Kptfile": "a: 1\n"}
    async with storage.open(spec, good) as again:
        assert [(r.package, r.workspace) for r in (await again.snapshot()).revisions] == [("app", "ws")]

    other = ec.generate_private_key(ec.SECP256R1())  # signed by a key the registry does not trust
    with pytest.raises(RepositoryAuthFailed, match="refused the credentials of Secret 'tokens-auth'"):
        async with storage.open(spec, Credentials(bearer_token=bearer_token(other, certificate, access))):
            pass


async def test_a_layer_entry_outside_the_package_is_refused_when_read(oci_registry: Registry) -> None:
    storage = OciStorage()
    spec = storage.parse({"metadata": {"name": "escape"},
                          "spec": {"oci": {"registry": f"{oci_registry.host}/e{secrets.token_hex(4)}"}}})
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in (("Kptfile", b"a: 1\n"), ("../escape.yaml", b"x: 1\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    async with storage.open(spec, Credentials(oci_registry.username, oci_registry.password)) as repo:
        assert isinstance(repo, OciAdapter)
        repository = spec.repository("bad")
        layer = gzip.compress(raw.getvalue())
        config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}, "history": []}).encode()
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                               "digest": repo.registry.put_blob_blocking(repository, config)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": len(layer),
                                "digest": repo.registry.put_blob_blocking(repository, layer)}]}
        repo.registry.put_manifest_blocking(repository, "ws", json.dumps(manifest).encode())
        await repo.fetch()
        [revision] = (await repo.snapshot()).revisions
        with pytest.raises(PackageContentInvalid, match="'../escape.yaml': it points outside the package"):
            await repo.read_package(revision)
