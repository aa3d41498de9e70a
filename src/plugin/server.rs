//! The HTTP side: Docker's JSON-over-HTTP calls on a Unix socket, translated to `Driver`
//! calls. Requests are read as raw bytes, so a missing Content-Type (Docker sends none) is
//! fine and malformed JSON gets an `Err` that says so. Every reply that is not a success,
//! down to a wrong method or an oversized body, is JSON with an `Err`: Docker shows the user
//! that text and nothing else.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixListener;
use tracing::{debug, info, warn};

use super::config::PluginConfig;
use super::driver::Driver;
use super::error::Error;
use super::protocol::{
    ActivateResponse, Capabilities, CapabilitiesResponse, CreateRequest, ENDPOINTS, ErrResponse,
    GetResponse, ListResponse, MountRequest, MountpointResponse, NameRequest, ReconcileResponse,
    ReleaseRequest, ReleaseResponse, ReleasedMounts, VolumeInfo,
};

/// Docker abandons a plugin call after 30 s; answer, even if only with an error, before.
const REQUEST_BUDGET: Duration = Duration::from_secs(28);

const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1.1+json";

/// Docker's requests are a few hundred bytes; anything near this is not Docker.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

type Shared = State<Arc<Driver>>;

/// Serves until SIGTERM or SIGINT, then removes the socket and leaves every mount in place:
/// containers keep their volumes and the restarted plugin picks up the persisted counts.
pub async fn serve(config: PluginConfig) -> Result<(), Error> {
    let listener = bind(&config.socket)?;
    let driver = Arc::new(Driver::open(config.clone())?);
    let maintenance = tokio::spawn(driver.clone().maintain());
    info!(
        socket = %config.socket.display(),
        driver = %config.driver_name(),
        node = %config.node_id,
        "cloudstor-plugin serving"
    );
    let served = axum::serve(listener, router(driver.clone()))
        .with_graceful_shutdown(shutdown_signal())
        .await;
    maintenance.abort();
    let _ = std::fs::remove_file(&config.socket);
    driver.shut_down().await;
    served.map_err(Error::io("serving failed on", &config.socket))?;
    info!("stopped; mounts left in place");
    Ok(())
}

pub fn router(driver: Arc<Driver>) -> Router {
    Router::new()
        .route("/Plugin.Activate", post(activate))
        .route("/VolumeDriver.Create", post(create))
        .route("/VolumeDriver.Remove", post(remove))
        .route("/VolumeDriver.Mount", post(mount))
        .route("/VolumeDriver.Unmount", post(unmount))
        .route("/VolumeDriver.Path", post(path))
        .route("/VolumeDriver.Get", post(get))
        .route("/VolumeDriver.List", post(list))
        .route("/VolumeDriver.Capabilities", post(capabilities))
        .route("/Cloudstor.Release", post(release))
        .route("/Cloudstor.Reconcile", post(reconcile))
        .method_not_allowed_fallback(wrong_method)
        .fallback(unknown_endpoint)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(driver)
}

/// Replaces a stale socket left by a killed plugin, but never one a live plugin answers on.
pub(crate) fn bind(socket: &Path) -> Result<UnixListener, Error> {
    if let Some(parent) = socket.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io("cannot create", parent))?;
    }
    if std::os::unix::net::UnixStream::connect(socket).is_ok() {
        return Err(Error::SocketInUse {
            path: socket.to_path_buf(),
        });
    }
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).map_err(Error::io("cannot listen on", socket))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660))
        .map_err(Error::io("cannot set permissions of", socket))?;
    Ok(listener)
}

pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = int.recv() => info!("SIGINT received"),
    }
}

async fn activate(Body(body): Body) -> Result<Response, BadRequest> {
    check_json("/Plugin.Activate", &body)?;
    Ok(reply(Ok(ActivateResponse {
        implements: ["VolumeDriver"],
    })))
}

async fn capabilities(Body(body): Body) -> Result<Response, BadRequest> {
    check_json("/VolumeDriver.Capabilities", &body)?;
    Ok(reply(Ok(CapabilitiesResponse {
        capabilities: Capabilities { scope: "global" },
    })))
}

async fn create(State(driver): Shared, Body(body): Body) -> Result<Response, BadRequest> {
    let request: CreateRequest = parse("/VolumeDriver.Create", &body)?;
    let done = within_budget(driver.create(&request.name, request.opts.as_ref())).await;
    Ok(reply(done.map(|()| no_error())))
}

async fn remove(State(driver): Shared, Body(body): Body) -> Result<Response, BadRequest> {
    let request: NameRequest = parse("/VolumeDriver.Remove", &body)?;
    let done = within_budget(driver.remove(&request.name)).await;
    Ok(reply(done.map(|()| no_error())))
}

async fn mount(State(driver): Shared, Body(body): Body) -> Result<Response, BadRequest> {
    let request: MountRequest = parse("/VolumeDriver.Mount", &body)?;
    let mounted = within_budget(driver.mount(&request.name, &request.id)).await;
    Ok(reply(mounted.map(mountpoint)))
}

async fn unmount(State(driver): Shared, Body(body): Body) -> Result<Response, BadRequest> {
    let request: MountRequest = parse("/VolumeDriver.Unmount", &body)?;
    let done = within_budget(driver.unmount(&request.name, &request.id)).await;
    Ok(reply(done.map(|()| no_error())))
}

async fn release(State(driver): Shared, Body(body): Body) -> Result<Response, BadRequest> {
    let request: ReleaseRequest = parse("/Cloudstor.Release", &body)?;
    let released = within_budget(driver.release(&request.name, request.id.as_deref())).await;
    Ok(reply(released.map(|released| ReleaseResponse { released })))
}

async fn reconcile(State(driver): Shared, Body(body): Body) -> Result<Response, BadRequest> {
    check_json("/Cloudstor.Reconcile", &body)?;
    let released = within_budget(driver.reconcile_with_docker()).await;
    Ok(reply(released.map(|released| {
        ReconcileResponse {
            released: released
                .into_iter()
                .map(|(name, mounts)| ReleasedMounts {
                    name: name.to_string(),
                    mounts,
                })
                .collect(),
        }
    })))
}

async fn path(State(driver): Shared, Body(body): Body) -> Result<Response, BadRequest> {
    let request: NameRequest = parse("/VolumeDriver.Path", &body)?;
    Ok(reply(
        within_budget(driver.path(&request.name))
            .await
            .map(mountpoint),
    ))
}

async fn get(State(driver): Shared, Body(body): Body) -> Result<Response, BadRequest> {
    let request: NameRequest = parse("/VolumeDriver.Get", &body)?;
    let found = within_budget(driver.get(&request.name)).await;
    // Docker asks Get before every Create, and asks every driver about a name it does not
    // know: "no such volume" is the ordinary answer there, not a refusal worth a warning;
    // so is "a cluster volume", which Docker then finds through Swarm.
    if let Err(err @ (Error::NotFound { .. } | Error::ClusterVolume { .. })) = &found {
        debug!(error = %err, "not a volume of this plugin");
        return Ok(refusal(err));
    }
    Ok(reply(found.map(|volume| GetResponse {
        volume,
        err: String::new(),
    })))
}

async fn list(State(driver): Shared, Body(body): Body) -> Result<Response, BadRequest> {
    check_json("/VolumeDriver.List", &body)?;
    let listed = within_budget(driver.list()).await;
    Ok(reply(listed.map(|volumes| {
        ListResponse {
            volumes: volumes
                .into_iter()
                .map(|(name, mountpoint)| VolumeInfo {
                    name: name.to_string(),
                    mountpoint: mountpoint.to_string_lossy().into_owned(),
                    created_at: String::new(),
                    status: Default::default(),
                })
                .collect(),
            err: String::new(),
        }
    })))
}

async fn unknown_endpoint(method: Method, uri: Uri) -> Response {
    let message = format!(
        "unknown endpoint {method} {}; this plugin answers POST on {}",
        uri.path(),
        ENDPOINTS.join(", ")
    );
    warn!(%method, path = uri.path(), "unknown endpoint");
    json_response(StatusCode::NOT_FOUND, &ErrResponse { err: message })
}

/// Every route exists for POST only; axum's own 405 has an empty body.
async fn wrong_method(method: Method, uri: Uri) -> Response {
    let message = format!(
        "{method} {} is not supported; this plugin answers only POST, on {}",
        uri.path(),
        ENDPOINTS.join(", ")
    );
    warn!(%method, path = uri.path(), "wrong method");
    let mut response = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &ErrResponse { err: message },
    );
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    response
}

/// The raw request body; a body that cannot be read (over `MAX_BODY_BYTES`, or cut off) is
/// answered with axum's status and an `Err` that names the endpoint.
pub struct Body(Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let path = request.uri().path().to_string();
        let rejection = match Bytes::from_request(request, state).await {
            Ok(bytes) => return Ok(Body(bytes)),
            Err(rejection) => rejection,
        };
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!(
                "the {path} request body is over the {MAX_BODY_BYTES}-byte limit; Docker's requests are far smaller"
            )
        } else {
            format!(
                "cannot read the {path} request body: {}",
                rejection.body_text()
            )
        };
        warn!(endpoint = %path, error = %message, "unreadable request");
        Err(json_response(status, &ErrResponse { err: message }))
    }
}

/// A request whose body is not the JSON the endpoint expects; answered with HTTP 400.
pub struct BadRequest(String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        json_response(StatusCode::BAD_REQUEST, &ErrResponse { err: self.0 })
    }
}

fn parse<T: DeserializeOwned>(endpoint: &str, body: &[u8]) -> Result<T, BadRequest> {
    serde_json::from_slice(body).map_err(|err| bad_request(endpoint, &err))
}

/// Endpoints without parameters accept an empty body or any JSON value, but not garbage.
fn check_json(endpoint: &str, body: &[u8]) -> Result<(), BadRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map(|_| ())
        .map_err(|err| bad_request(endpoint, &err))
}

fn bad_request(endpoint: &str, err: &serde_json::Error) -> BadRequest {
    warn!(endpoint, error = %err, "malformed request");
    BadRequest(format!("malformed JSON in {endpoint} request: {err}"))
}

async fn within_budget<T>(work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::time::timeout(REQUEST_BUDGET, work)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Timeout {
                what: "the request".into(),
                secs: REQUEST_BUDGET.as_secs(),
            })
        })
}

fn no_error() -> ErrResponse {
    ErrResponse { err: String::new() }
}

fn mountpoint(path: std::path::PathBuf) -> MountpointResponse {
    MountpointResponse {
        mountpoint: path.to_string_lossy().into_owned(),
        err: String::new(),
    }
}

fn reply<T: Serialize>(result: Result<T, Error>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(err) => {
            warn!(error = %err, "request refused");
            refusal(&err)
        }
    }
}

/// Errors go back as HTTP 500 with `{"Err": "..."}`, as go-plugins-helpers does.
fn refusal(err: &Error) -> Response {
    let body = ErrResponse {
        err: err.to_string(),
    };
    json_response(StatusCode::INTERNAL_SERVER_ERROR, &body)
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let json = serde_json::to_vec(body).expect("responses serialise");
    (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], json).into_response()
}
