//! Certificate signing requests (upstream's `csrsigning` and `csrcleaner`).
//!
//! - `csrsigning` issues certificates with the cluster CA for approved CSRs of the
//!   built-in signers `kubernetes.io/kube-apiserver-client`,
//!   `kubernetes.io/kube-apiserver-client-kubelet` and `kubernetes.io/kubelet-serving`,
//!   writing `status.certificate` through the status subresource; a request a signer
//!   refuses (or that does not parse) gets a `Failed` condition instead. It runs only
//!   with a signing CA ([`Signing`]).
//! - `csrcleaner` deletes CSRs that are done with: decided or failed over an hour
//!   ago, pending over a day, or whose certificate expired.
//!
//! The decisions are in [`decide`]; the CA in [`authority`]; what they write goes
//! through [`CsrWrites`].

pub mod authority;
pub mod decide;
pub mod request;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, Preconditions};
use kube::Api;

use crate::replicaset::ignore_gone;
use crate::runtime::{Change, Clock, Context, Controller, Informer, Outcome, Registration, SyncError, WorkQueue};

use authority::{Authority, AuthorityError, SignError};
use decide::{Cleanup, Decision, Policy};

pub const CSR_SIGNING: Registration =
    Registration { name: "csrsigning", workers: 2, build: |ctx, q| Arc::new(CsrSigner::new(ctx, q)) };

pub const CSR_CLEANER: Registration =
    Registration { name: "csrcleaner", workers: 1, build: |ctx, q| Arc::new(CsrCleaner::new(ctx, q)) };

/// The signing CA and the longest lifetime of what it issues
/// (`--cluster-signing-cert-file`, `--cluster-signing-key-file`,
/// `--cluster-signing-duration`).
#[derive(Debug)]
pub struct Signing {
    pub authority: Authority,
    pub duration: chrono::Duration,
}

impl Signing {
    /// The CA in `cert_pem` with the key in `key_pem`; certificates live at most
    /// `duration` ([`decide::DEFAULT_DURATION`] when `None`).
    ///
    /// # Errors
    /// See [`Authority::from_pem`].
    pub fn from_pem(cert_pem: &str, key_pem: &str, duration: Option<Duration>) -> Result<Signing, AuthorityError> {
        let duration = duration
            .map(|d| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX))
            .unwrap_or(decide::DEFAULT_DURATION);
        Ok(Signing { authority: Authority::from_pem(cert_pem, key_pem)?, duration })
    }
}

/// The writes of both controllers (the API in production, a recorder in tests).
#[async_trait::async_trait]
pub trait CsrWrites: Send + Sync {
    /// `PUT .../certificatesigningrequests/NAME/status` with `csr` (its
    /// resourceVersion guards against a stale copy).
    async fn replace_status(&self, csr: &CertificateSigningRequest) -> Result<(), kube::Error>;
    /// Deletes the CSR `name` if it still has `uid`.
    async fn delete(&self, name: &str, uid: &str) -> Result<(), kube::Error>;
}

/// [`CsrWrites`] through the API server.
pub struct ApiWrites(pub kube::Client);

#[async_trait::async_trait]
impl CsrWrites for ApiWrites {
    async fn replace_status(&self, csr: &CertificateSigningRequest) -> Result<(), kube::Error> {
        let api: Api<CertificateSigningRequest> = Api::all(self.0.clone());
        let name = csr.metadata.name.as_deref().unwrap_or_default();
        let body = serde_json::to_vec(csr).map_err(kube::Error::SerdeError)?;
        api.replace_status(name, &crate::runtime::post_params(), body).await.map(|_| ())
    }

    async fn delete(&self, name: &str, uid: &str) -> Result<(), kube::Error> {
        let api: Api<CertificateSigningRequest> = Api::all(self.0.clone());
        let params = DeleteParams {
            preconditions: Some(Preconditions { uid: Some(uid.into()), resource_version: None }),
            ..Default::default()
        };
        api.delete(name, &params).await.map(|_| ())
    }
}

/// Enqueues the name of every CSR that is added or changes.
fn enqueue_changes(csrs: &Informer<CertificateSigningRequest>, queue: &WorkQueue<String>) {
    let queue = queue.clone();
    csrs.on_change(move |c| {
        if !matches!(c, Change::Deleted(_)) {
            queue.add(c.object().metadata.name.clone().unwrap_or_default());
        }
    });
}

/// `csrsigning`.
pub struct CsrSigner {
    csrs: Informer<CertificateSigningRequest>,
    writes: Arc<dyn CsrWrites>,
    clock: Arc<dyn Clock>,
    signing: Option<Arc<Signing>>,
}

impl CsrSigner {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> CsrSigner {
        let writes = Arc::new(ApiWrites(ctx.client.clone()));
        CsrSigner::with(ctx.informers.informer(), writes, ctx.clock.clone(), ctx.csr_signing.clone(), queue)
    }

    /// A signer reading `csrs` and writing through `writes`; it signs nothing
    /// without `signing`.
    pub fn with(
        csrs: Informer<CertificateSigningRequest>,
        writes: Arc<dyn CsrWrites>,
        clock: Arc<dyn Clock>,
        signing: Option<Arc<Signing>>,
        queue: WorkQueue<String>,
    ) -> CsrSigner {
        enqueue_changes(&csrs, &queue);
        CsrSigner { csrs, writes, clock, signing }
    }

    /// Adds the Failed condition with `message`.
    async fn fail(&self, csr: &CertificateSigningRequest, message: &str) -> Result<(), SyncError> {
        let mut csr = csr.clone();
        let status = csr.status.get_or_insert_with(Default::default);
        status.conditions.get_or_insert_with(Vec::new).push(decide::failed_condition(message, self.clock.now()));
        ignore_gone(self.writes.replace_status(&csr).await)?;
        tracing::info!(csr = csr.metadata.name.as_deref().unwrap_or_default(), %message, "CSR failed signer validation");
        Ok(())
    }
}

#[async_trait::async_trait]
impl Controller for CsrSigner {
    async fn sync(&self, name: &str) -> Result<Outcome, SyncError> {
        let Some(signing) = &self.signing else { return Ok(Outcome::Done) };
        let Some(csr) = self.csrs.get("", name) else { return Ok(Outcome::Done) };
        let policy = Policy { duration: signing.duration, ca_not_after: signing.authority.not_after() };
        let decision = decide::decide(&csr, &policy, self.clock.now()).map_err(|e| SyncError::Other(e.to_string()))?;
        let (request, usages, validity) = match decision {
            Decision::Ignore => return Ok(Outcome::Done),
            Decision::Fail(message) => {
                self.fail(&csr, &message).await?;
                return Ok(Outcome::Done);
            }
            Decision::Sign { request, usages, validity } => (request, usages, validity),
        };
        let pem = match signing.authority.sign(&request, &usages, &validity) {
            Ok(pem) => pem,
            // The request's fault: it will never sign.
            Err(e @ (SignError::UnrecognizedUsages(_) | SignError::UnsupportedKey)) => {
                self.fail(&csr, &e.to_string()).await?;
                return Ok(Outcome::Done);
            }
            Err(e) => return Err(SyncError::Other(format!("error auto signing csr: {e}"))),
        };
        let mut csr = (*csr).clone();
        csr.status.get_or_insert_with(Default::default).certificate = Some(ByteString(pem.into_bytes()));
        ignore_gone(self.writes.replace_status(&csr).await)?;
        tracing::info!(csr = name, signer = %csr.spec.signer_name, not_after = %validity.not_after, "issued certificate");
        Ok(Outcome::Done)
    }
}

/// The longest the cleaner waits before looking at a CSR again (upstream sweeps
/// every hour).
const CLEANER_RECHECK: Duration = Duration::from_secs(3600);

/// `csrcleaner`.
pub struct CsrCleaner {
    csrs: Informer<CertificateSigningRequest>,
    writes: Arc<dyn CsrWrites>,
    clock: Arc<dyn Clock>,
}

impl CsrCleaner {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> CsrCleaner {
        let writes = Arc::new(ApiWrites(ctx.client.clone()));
        CsrCleaner::with(ctx.informers.informer(), writes, ctx.clock.clone(), queue)
    }

    pub fn with(
        csrs: Informer<CertificateSigningRequest>,
        writes: Arc<dyn CsrWrites>,
        clock: Arc<dyn Clock>,
        queue: WorkQueue<String>,
    ) -> CsrCleaner {
        enqueue_changes(&csrs, &queue);
        CsrCleaner { csrs, writes, clock }
    }
}

#[async_trait::async_trait]
impl Controller for CsrCleaner {
    async fn sync(&self, name: &str) -> Result<Outcome, SyncError> {
        let Some(csr) = self.csrs.get("", name) else { return Ok(Outcome::Done) };
        let now = self.clock.now();
        match decide::cleanup(&csr, now) {
            Cleanup::Delete(why) => {
                let uid = csr.metadata.uid.as_deref().unwrap_or_default();
                ignore_gone(self.writes.delete(name, uid).await)?;
                tracing::info!(csr = name, reason = why, "cleaned up CSR");
                Ok(Outcome::Done)
            }
            // A second after the deadline (the rules are "older than"), at most an hour away.
            Cleanup::Keep(Some(at)) => {
                let wait = (at - now).to_std().unwrap_or_default() + Duration::from_secs(1);
                Ok(Outcome::RequeueAfter(wait.min(CLEANER_RECHECK)))
            }
            Cleanup::Keep(None) => Ok(Outcome::Done),
        }
    }
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
