//! Bringing the API server up: certificates, kubeconfig, the listening socket, the
//! system namespaces. Every failure is a distinct error the binary reports plainly.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use skiff_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::authn::{Authenticator, TokenFileAuthenticator, UnionAuthenticator, X509Authenticator};
use crate::authz::AllowAuthenticated;
use crate::loopback::Loopback;
use crate::pki::{Pki, ServingNames};
use crate::server::{self, Context};

/// How to run the API server.
#[derive(Clone, Debug)]
pub struct Config {
    pub bind_address: IpAddr,
    pub port: u16,
    /// Holds `tls/` (certificates) and `admin.kubeconfig`.
    pub data_dir: PathBuf,
    /// upstream's static token file (`token,user,uid,"group1,group2"`).
    pub token_file: Option<PathBuf>,
    /// Names and addresses the serving certificate must cover.
    pub serving_names: ServingNames,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot set up the cluster certificates: {0}")]
    Pki(#[from] crate::pki::PkiError),
    #[error("cannot build the TLS configuration: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot write the admin kubeconfig: {0}")]
    Kubeconfig(#[from] crate::kubeconfig::KubeconfigError),
    #[error("cannot load the service account signing key: {0}")]
    ServiceAccountKey(#[from] crate::serviceaccount::key::KeyError),
    #[error("cannot read the token file: {0}")]
    TokenFile(#[from] crate::authn::TokenFileError),
    #[error("port {0} is already in use (is another skiff or Kubernetes API server running?)")]
    PortInUse(SocketAddr),
    #[error("no permission to listen on {0} (ports below 1024 need root)")]
    PortPermission(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("cannot initialise the cluster state: {0}")]
    Bootstrap(skiff_api::ApiError),
}

/// The address the `kubernetes` Service's endpoints list: the first node IP,
/// else the bind address, else loopback (a server bound to every address with
/// no node IP given; only local clients can use that one).
fn advertise_address(config: &Config) -> IpAddr {
    match config.serving_names.node_ips.first() {
        Some(ip) => *ip,
        None if !config.bind_address.is_unspecified() => config.bind_address,
        None => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    }
}

/// A bound, ready-to-serve API server.
pub struct ApiServer {
    ctx: Arc<Context>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    /// `https://127.0.0.1:6443` or the bind address.
    pub url: String,
    /// Where the admin kubeconfig was written.
    pub kubeconfig: PathBuf,
    pub local_addr: SocketAddr,
    loopback: Loopback,
}

impl ApiServer {
    /// Prepares certificates and the kubeconfig, binds the port and creates the
    /// system namespaces. Serving starts with [`ApiServer::run`].
    pub async fn start(
        config: Config,
        store: Arc<dyn Store>,
        shutdown: CancellationToken,
    ) -> Result<ApiServer, StartError> {
        let pki = Pki::load_or_create(&config.data_dir.join("tls"), &config.serving_names)?;
        let tls = crate::tls::server_config(&pki)?;
        let addr = SocketAddr::new(config.bind_address, config.port);
        let listener = TcpListener::bind(addr).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => StartError::PortInUse(addr),
            std::io::ErrorKind::PermissionDenied => StartError::PortPermission(addr),
            _ => StartError::Listen { addr, source: e },
        })?;
        let local_addr = listener.local_addr().map_err(|e| StartError::Listen { addr, source: e })?;
        let host = if config.bind_address.is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            config.bind_address.to_string()
        };
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        let url = format!("https://{host}:{}", local_addr.port());
        let kubeconfig = config.data_dir.join("admin.kubeconfig");
        crate::kubeconfig::write_admin_kubeconfig(&kubeconfig, &url, &pki)?;

        let sa_key = Arc::new(crate::serviceaccount::key::load_or_create(
            &config.data_dir.join("tls").join("service-account.key"),
        )?);
        let mut authenticators: Vec<Box<dyn Authenticator>> = vec![Box::new(X509Authenticator::new())];
        if let Some(path) = &config.token_file {
            authenticators.push(Box::new(TokenFileAuthenticator::from_file(path)?));
        }
        authenticators.push(Box::new(crate::serviceaccount::ServiceAccountAuthenticator::new(
            sa_key.clone(),
            crate::storage::Objects::new(store.clone()),
        )));
        let ctx = Context::new(
            store,
            Arc::new(UnionAuthenticator::new(authenticators)),
            Arc::new(AllowAuthenticated),
            shutdown,
        );
        let _ = ctx.service_account_key.set(sa_key);
        match crate::kubelet_client::KubeletClient::new(&pki) {
            Ok(client) => {
                let _ = ctx.kubelet.set(Arc::new(client));
            }
            Err(e) => tracing::warn!("no kubelet client, pods/log will be unavailable: {e}"),
        }
        ctx.start_caches().await.map_err(StartError::Bootstrap)?;
        crate::admission::ensure_system_namespaces(&ctx.objects).await.map_err(StartError::Bootstrap)?;
        let advertise = advertise_address(&config);
        crate::kubernetes_endpoints::ensure(&ctx.objects, advertise, local_addr.port())
            .await
            .map_err(StartError::Bootstrap)?;
        let admin = crate::tls::certs(pki.admin_cert_pem(), "admin certificate")?.remove(0);
        let loopback = Loopback::new(ctx.clone(), admin);
        Ok(ApiServer { ctx, listener, tls, url, kubeconfig, local_addr, loopback })
    }

    /// A transport for in-process clients, acting as the admin kubeconfig's user (see
    /// [`crate::loopback`]).
    pub fn loopback(&self) -> Loopback {
        self.loopback.clone()
    }

    /// Serves until the shutdown token given to `start` is cancelled.
    pub async fn run(self) {
        let shutdown = self.ctx.shutdown.clone();
        server::serve(self.ctx, self.listener, Some(self.tls), shutdown).await;
    }
}
