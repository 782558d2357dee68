"""The composition root: the one place where objects are built and wired together.

:func:`assemble` builds the service from explicit parts (tests, the benchmark and tools call it);
:func:`build_service` builds it from :class:`~elicence.settings.Settings` (the CLI and the API).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from elicence.app import metrics, production
from elicence.app.access import Access
from elicence.app.backup import BackupSummary, restore
from elicence.app.catalogue import CatalogueSource
from elicence.app.guard import NO_LIMITS, Guard, Limits
from elicence.app.hall import (
    GrantedOrOwn,
    Hall,
    IssuerSeam,
    ItemSource,
    RegistryCitations,
    WebEnrolment,
)
from elicence.app.holder import AuthorisedUse
from elicence.app.mirror import MirroredTrust
from elicence.app.production import PRIVATE_DIR
from elicence.app.publishing import Publisher
from elicence.app.service import Elicence, utcnow
from elicence.app.signin import ProviderSettings, SignIn
from elicence.app.stock import StockImport, WorkerRecipe
from elicence.app.trail import Trail
from elicence.domain.catalogue import Catalogue
from elicence.errors import SettingsError
from elicence.hall.calendar import DEMO_HOLIDAYS, WorkingCalendar, load_calendar
from elicence.hall.items_file import DEMO_FORMS
from elicence.hall.ports import Seams
from elicence.issuer import IssuanceService
from elicence.issuer.lifecycle import LifecycleService
from elicence.keys.keyring import Keyring
from elicence.keys.pkcs11 import TokenConfig, Tokens
from elicence.keys.root import ROOT_CERT, RootSource, create_offline_root
from elicence.keys.store import KeyStore
from elicence.ratelimit import Limiter, MemoryLimiter, RedisLimiter
from elicence.registry import Registry
from elicence.registry.apikeys import ApiKeyStore
from elicence.registry.hall import HallStore
from elicence.registry.holder import HolderStore
from elicence.registry.stock import StockRegistry
from elicence.registry.trail import TrailStore
from elicence.settings import DEVELOPMENT_PASSPHRASE, DEVELOPMENT_SESSION_SECRET, Settings
from elicence.templates.documents import LicenceDocuments
from elicence.templates.pdf import DEFAULT_FONT_PATH


def assemble(
    *,
    registry: Registry,
    keystore: KeyStore,
    passphrase: str,
    public_base_url: str,
    clock: Callable[[], dt.datetime] = utcnow,
    trust_list_validity: dt.timedelta = dt.timedelta(hours=24),
    status_list_validity: dt.timedelta = dt.timedelta(hours=24),
    font_path: Path = DEFAULT_FONT_PATH,
    tsa_url: str | None = None,
    sign_in: SignIn | None = None,
    limits: Limits = NO_LIMITS,
    limiter: Limiter | None = None,
    holidays: WorkingCalendar | None = None,
    rectify_days: int = 15,
    forms_dir: Path = DEMO_FORMS,
) -> Elicence:
    """The service over an open registry and a key store. Web sign-in: the development defaults,
    a demo identity provider, unless ``sign_in`` is given. Without ``limits`` nothing is rate
    limited (tests, tools); :func:`build_service` passes the configured ones."""
    keyring = Keyring(keystore, passphrase=passphrase)
    catalogue = CatalogueSource(registry, clock=clock)
    documents = LicenceDocuments(font_path=font_path, tsa_url=tsa_url)
    publisher = Publisher(
        registry=registry,
        keyring=keyring,
        catalogue=catalogue,
        mirror=MirroredTrust(registry),
        clock=clock,
        trust_list_validity=trust_list_validity,
        status_list_validity=status_list_validity,
    )
    issuer = IssuanceService(
        store=registry,
        catalogue=catalogue,
        signers=keyring,
        clock=clock,
        printable=documents.renderer.check_printable,
    )
    metrics.instrument(issuer=issuer, registry=registry, publisher=publisher)
    hall_store = HallStore(registry, usage_observers=registry.usage_commit.observers)
    items = ItemSource(hall_store)
    hall = Hall(
        store=hall_store,
        items=items,
        licences=catalogue,
        forms_dir=forms_dir,
        seams=Seams(
            store=hall_store,
            items=items,
            licences=catalogue,
            citations=RegistryCitations(
                hall_store, registry=registry, trust_list=publisher.trust_list, clock=clock
            ),
            issuer=IssuerSeam(
                issuer,
                registry=registry,
                after_issue=lambda: publisher.checkpoint(min_interval=Elicence.CHECKPOINT_INTERVAL),
            ),
            calendar=holidays if holidays is not None else load_calendar(DEMO_HOLIDAYS),
            clock=clock,
            rectify_days=rectify_days,
            policy=GrantedOrOwn(AuthorisedUse(HolderStore(registry), clock=clock)),
            enrol=WebEnrolment(HolderStore(registry), clock=clock),
        ),
    )
    access = Access(
        registry,
        catalogue=catalogue,
        clock=clock,
        keys=ApiKeyStore(registry),
        other_departments=items.knows_department,
    )
    service = Elicence(
        registry=registry,
        keystore=keystore,
        keyring=keyring,
        catalogue=catalogue,
        access=access,
        publisher=publisher,
        issuer=issuer,
        lifecycle=LifecycleService(
            store=registry, catalogue=catalogue, signers=keyring, clock=clock
        ),
        documents=documents,
        public_base_url=public_base_url,
        clock=clock,
        guard=Guard(limiter or MemoryLimiter(), limits, clock=clock),
        trail=Trail(TrailStore(registry), clock=clock),
        hall=hall,
        stock=StockImport(
            stock=StockRegistry(registry),
            catalogue=catalogue,
            recipe=WorkerRecipe(keyring.recipe(), font_path),
            checkpoint=publisher.checkpoint,
            clock=clock,
        ),
        sign_in=sign_in
        or SignIn(
            public_base_url=public_base_url,
            secret=DEVELOPMENT_SESSION_SECRET,
            demo=True,
            clock=clock,
        ),
    )
    return service


def restore_backup(source: Path, *, database_url: str, keys_dir: Path) -> BackupSummary:
    """Restore a backup (``elicence backup create``) into an empty database and key store."""
    registry = Registry.from_url(database_url)
    try:
        return restore(source, registry=registry, keys_dir=keys_dir)
    finally:
        registry.dispose()


def build_service(
    settings: Settings,
    *,
    upgrade: bool = True,
    create: bool = False,
    root_dir: Path | None = None,
) -> Elicence:
    """The service for ``settings``: opens the registry and (by default) upgrades its schema.

    The data dir must exist unless ``create`` (``elicence init`` alone): a command run from
    another directory must not quietly make a new, empty installation there. ``root_dir``: the
    offline root, for a key ceremony command alone (its passphrase from
    ELICENCE_ROOT_PASSPHRASE). Outside development a new key store is never given a root key.
    """
    data_dir = settings.data_dir
    if create:
        data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    elif not data_dir.is_dir():
        raise SettingsError(
            f"no data dir at {data_dir.resolve()} (ELICENCE_DATA_DIR, default ./var): set "
            "ELICENCE_DATA_DIR to the installation's data dir, or run `elicence init` to make "
            "a new one",
            field="data_dir",
        )
    keystore = KeyStore(settings.keys_dir, tokens=tokens_of(settings))
    keystore.root_in_store_allowed = settings.env == "development"
    if root_dir is not None:
        keystore.root = RootSource(root_dir, _root_passphrase(settings))
    registry = Registry.from_url(settings.effective_database_url)
    if upgrade:
        registry.upgrade()
    return assemble(
        registry=registry,
        keystore=keystore,
        passphrase=settings.key_passphrase.get_secret_value(),
        public_base_url=settings.base_url,
        trust_list_validity=dt.timedelta(hours=settings.trust_list_validity_hours),
        status_list_validity=dt.timedelta(hours=settings.status_list_validity_hours),
        font_path=settings.font_path,
        tsa_url=settings.tsa_url or None,
        sign_in=SignIn(
            public_base_url=settings.base_url,
            secret=settings.effective_session_secret,
            idle=dt.timedelta(minutes=settings.session_idle_minutes),
            max_age=dt.timedelta(hours=settings.session_max_hours),
            demo=settings.demo_idp_enabled,
            provider=_provider(settings),
            clock=utcnow,
        ),
        limits=Limits.parse(
            verify_client=settings.rate_limit_verify_client,
            verify_ip=settings.rate_limit_verify_ip,
            public_ip=settings.rate_limit_public_ip,
            auth_failures_ip=settings.rate_limit_auth_failures_ip,
            progress_ip=settings.rate_limit_progress_ip,
            progress_case=settings.rate_limit_progress_case,
            bad_bodies=settings.rate_limit_bad_bodies,
            pdf_cost=settings.rate_limit_pdf_cost,
            trusted_proxies=settings.proxy_list,
        ),
        limiter=RedisLimiter(settings.redis_url)
        if settings.rate_limit_backend == "redis"
        else MemoryLimiter(),
        holidays=load_calendar(settings.holidays_file or DEMO_HOLIDAYS),
        rectify_days=settings.rectify_days,
        forms_dir=settings.hall_forms_dir or DEMO_FORMS,
    )


def check_ready(settings: Settings, svc: Elicence) -> list[str]:
    """The checks before serving (``elicence serve``, ``elicence db upgrade``): file modes
    tightened (the warnings returned), and a refusal (an :class:`~elicence.errors.Error`) for
    demo data in production or an active key that does not open. See app/production.py."""
    warnings = production.tighten_modes(
        data_dir=settings.data_dir,
        database_files=svc.registry.files(),
        keys_dir=settings.keys_dir,
    )
    if settings.env == "production":
        production.refuse_demo_data(
            svc,
            data_dir=settings.data_dir,
            opens_with_development_passphrase=lambda: _development_keys(settings, svc),
        )
    production.refuse_unusable_keys(svc)
    return warnings


def check_catalogue(settings: Settings, catalogue: Catalogue) -> None:
    """Refuse to import the demo catalogue (or a copy of it) in production."""
    if settings.env == "production":
        production.refuse_demo_catalogue(catalogue)


def _development_keys(settings: Settings, svc: Elicence) -> list[str]:
    """Who has an active key that opens with the development passphrase (demo keys); tried only
    for the keys that do not open with the configured one (a production passphrase differs)."""
    down = svc.keys.unusable()
    if not down:
        return []
    development = Keyring(KeyStore(settings.keys_dir), passphrase=DEVELOPMENT_PASSPHRASE)
    still_down = set(development.unusable())
    return [who for who in down if who not in still_down]


def _root_passphrase(settings: Settings) -> str:
    if settings.root_passphrase is None:
        raise SettingsError(
            "the offline root's passphrase: set ELICENCE_ROOT_PASSPHRASE for this ceremony",
            field="root_passphrase",
        )
    return settings.root_passphrase.get_secret_value()


def make_offline_root(directory: Path, settings: Settings) -> Path:
    """The root ceremony (``elicence keys root-create``): the root key and certificate in
    ``directory``, the key sealed under ELICENCE_ROOT_PASSPHRASE. Returns the certificate's path."""
    create_offline_root(directory, passphrase=_root_passphrase(settings), now=utcnow())
    return directory / ROOT_CERT


def tokens_of(settings: Settings) -> Tokens | None:
    """The PKCS#11 tokens of the settings (None: every key is a key file)."""
    if settings.pkcs11_module is None:
        return None
    pin = settings.pkcs11_pin_value()
    if pin is None:  # Settings refuses a module without a PIN; kept for the type
        raise SettingsError("a PKCS#11 module needs the token PIN", field="pkcs11_pin")
    return TokenConfig(
        module=settings.pkcs11_module, token_label=settings.pkcs11_token, pin=pin
    ).tokens()


def _provider(settings: Settings) -> ProviderSettings | None:
    """The holders' real OpenID provider, where the settings name one."""
    if settings.oidc_issuer is None or settings.oidc_client_secret is None:
        return None
    return ProviderSettings(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        scope=settings.oidc_scope,
        authorization_endpoint=settings.oidc_authorization_endpoint,
        token_endpoint=settings.oidc_token_endpoint,
        jwks_uri=settings.oidc_jwks_uri,
        id_type_claim=settings.oidc_id_type_claim,
        id_number_claim=settings.oidc_id_number_claim,
        name_claim=settings.oidc_name_claim,
    )
