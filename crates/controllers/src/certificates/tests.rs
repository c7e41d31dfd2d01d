//! The two controllers' shells, on an informer filled by hand and a recorder of
//! writes (no API server).

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use kube::runtime::watcher::Event;

use super::testing::{ca, ca_until, csr, request, with_certificate, with_condition};
use super::*;
use crate::runtime::informer::Relist;

/// A write either controller made.
#[derive(Debug, Clone)]
enum Write {
    Status(Box<CertificateSigningRequest>),
    Delete { name: String, uid: String },
}

/// [`CsrWrites`] that records, and answers with `error` (an HTTP code) if set.
#[derive(Default)]
struct Recorder {
    writes: Mutex<Vec<Write>>,
    error: Mutex<Option<u16>>,
}

impl Recorder {
    fn answer(&self) -> Result<(), kube::Error> {
        match *self.error.lock().unwrap() {
            None => Ok(()),
            Some(code) => Err(kube::Error::Api(kube::core::ErrorResponse {
                status: "Failure".into(),
                message: "injected".into(),
                reason: if code == 409 { "Conflict".into() } else { "NotFound".into() },
                code,
            })),
        }
    }

    fn take(&self) -> Vec<Write> {
        std::mem::take(&mut *self.writes.lock().unwrap())
    }
}

#[async_trait::async_trait]
impl CsrWrites for Recorder {
    async fn replace_status(&self, csr: &CertificateSigningRequest) -> Result<(), kube::Error> {
        self.writes.lock().unwrap().push(Write::Status(Box::new(csr.clone())));
        self.answer()
    }

    async fn delete(&self, name: &str, uid: &str) -> Result<(), kube::Error> {
        self.writes.lock().unwrap().push(Write::Delete { name: name.into(), uid: uid.into() });
        self.answer()
    }
}

struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Delivers `csrs` as the informer's first list (after the controller registered
/// its handlers, as in the manager).
fn fill(informer: &Informer<CertificateSigningRequest>, csrs: Vec<CertificateSigningRequest>) {
    let mut relist = Relist::default();
    informer.apply(&mut relist, Event::Init);
    for c in csrs {
        informer.apply(&mut relist, Event::InitApply(c));
    }
    informer.apply(&mut relist, Event::InitDone);
}

fn signing() -> Arc<Signing> {
    let (cert, key) = ca();
    Arc::new(Signing::from_pem(&cert, &key, None).unwrap())
}

fn new_signer(
    csrs: Vec<CertificateSigningRequest>,
    signing: Option<Arc<Signing>>,
) -> (CsrSigner, Arc<Recorder>, WorkQueue<String>) {
    let recorder = Arc::new(Recorder::default());
    let queue = WorkQueue::new();
    let clock = Arc::new(FixedClock(Utc::now()));
    let csr_informer = Informer::new("CertificateSigningRequest");
    let signer = CsrSigner::with(csr_informer.clone(), recorder.clone(), clock, signing, queue.clone());
    fill(&csr_informer, csrs);
    (signer, recorder, queue)
}

fn jane() -> CertificateSigningRequest {
    csr("jane", decide::KUBE_APISERVER_CLIENT, &["client auth"], &request("jane", Some("dev"), vec![]))
}

#[tokio::test]
async fn an_approved_request_gets_a_certificate_through_the_status_subresource() {
    let approved = with_condition(jane(), "Approved", Utc::now());
    let (signer, writes, _) = new_signer(vec![approved], Some(signing()));
    assert_eq!(signer.sync("jane").await.unwrap(), Outcome::Done);
    let [Write::Status(written)] = &writes.take()[..] else { panic!("one status write") };
    assert_eq!(written.metadata.resource_version.as_deref(), Some("7"), "guarded by the cached resourceVersion");
    let pem = &written.status.as_ref().unwrap().certificate.as_ref().unwrap().0;
    let block = x509_parser::pem::Pem::iter_from_buffer(pem).next().unwrap().unwrap();
    let cert = block.parse_x509().unwrap();
    assert_eq!(cert.subject().iter_common_name().next().unwrap().as_str().unwrap(), "jane");
    let conditions = written.status.as_ref().unwrap().conditions.as_ref().unwrap();
    assert_eq!(conditions.len(), 1, "the approval is kept, nothing added");
}

#[tokio::test]
async fn a_refused_request_gets_a_failed_condition_and_no_certificate() {
    let wrong_cn = with_condition(
        csr(
            "node",
            decide::KUBE_APISERVER_CLIENT_KUBELET,
            &["digital signature", "client auth"],
            &request("jane", Some("system:nodes"), vec![]),
        ),
        "Approved",
        Utc::now(),
    );
    let (signer, writes, _) = new_signer(vec![wrong_cn], Some(signing()));
    assert_eq!(signer.sync("node").await.unwrap(), Outcome::Done);
    let [Write::Status(written)] = &writes.take()[..] else { panic!("one status write") };
    let status = written.status.as_ref().unwrap();
    assert!(status.certificate.is_none());
    let failed = status.conditions.as_ref().unwrap().last().unwrap();
    assert_eq!((failed.type_.as_str(), failed.reason.as_deref()), ("Failed", Some("SignerValidationFailure")));
    assert_eq!(failed.message.as_deref(), Some("subject common name does not begin with system:node:"));
}

#[tokio::test]
async fn nothing_is_written_for_pending_denied_or_unknown_requests_nor_without_a_ca() {
    let denied = with_condition(with_condition(jane(), "Approved", Utc::now()), "Denied", Utc::now());
    let (signer, writes, _) = new_signer(vec![jane(), denied.clone()], Some(signing()));
    assert_eq!(signer.sync("jane").await.unwrap(), Outcome::Done);
    assert_eq!(signer.sync("gone").await.unwrap(), Outcome::Done);
    assert!(writes.take().is_empty());

    let approved = with_condition(jane(), "Approved", Utc::now());
    let (signer, writes, _) = new_signer(vec![approved], None);
    assert_eq!(signer.sync("jane").await.unwrap(), Outcome::Done);
    assert!(writes.take().is_empty(), "no CA, no signing");
}

#[tokio::test]
async fn a_stale_copy_is_retried_and_a_deleted_request_is_not_an_error() {
    let approved = with_condition(jane(), "Approved", Utc::now());
    let (signer, writes, _) = new_signer(vec![approved], Some(signing()));
    *writes.error.lock().unwrap() = Some(409);
    assert!(signer.sync("jane").await.is_err(), "a conflict is retried with the newer copy");
    *writes.error.lock().unwrap() = Some(404);
    assert_eq!(signer.sync("jane").await.unwrap(), Outcome::Done);
}

#[tokio::test]
async fn an_expired_ca_is_an_error_to_retry_not_a_failed_request() {
    let (cert, key) = ca_until(Utc::now() - chrono::Duration::hours(1));
    let expired = Arc::new(Signing::from_pem(&cert, &key, None).unwrap());
    let approved = with_condition(jane(), "Approved", Utc::now());
    let (signer, writes, _) = new_signer(vec![approved], Some(expired));
    let err = signer.sync("jane").await.unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(writes.take().is_empty());
}

#[test]
fn every_change_but_a_deletion_enqueues_the_request() {
    let mut other = jane();
    other.metadata.name = Some("other".into());
    let (_signer, _, queue) = new_signer(vec![jane(), other], Some(signing()));
    assert_eq!(queue.len(), 2, "the first list enqueues every CSR");
}

#[tokio::test]
async fn the_cleaner_deletes_by_uid_and_comes_back_at_the_next_deadline() {
    let now = Utc::now();
    let old_denied = with_condition(jane(), "Denied", now - chrono::Duration::hours(2));
    let mut young = csr("young", decide::KUBE_APISERVER_CLIENT, &["client auth"], "x");
    young.metadata.creation_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now - chrono::Duration::minutes(30)));
    let issued = with_certificate(with_condition(jane(), "Approved", now - chrono::Duration::minutes(59)), "x");
    let mut issued = issued;
    issued.metadata.name = Some("issued".into());
    let writes = Arc::new(Recorder::default());
    let csr_informer = Informer::new("CertificateSigningRequest");
    let cleaner = CsrCleaner::with(csr_informer.clone(), writes.clone(), Arc::new(FixedClock(now)), WorkQueue::new());
    fill(&csr_informer, vec![old_denied, young, issued]);
    assert_eq!(cleaner.sync("jane").await.unwrap(), Outcome::Done);
    let [Write::Delete { name, uid }] = &writes.take()[..] else { panic!("one delete") };
    assert_eq!((name.as_str(), uid.as_str()), ("jane", "uid-jane"));
    // Pending for 23.5 more hours: looked at again within the hour.
    assert_eq!(cleaner.sync("young").await.unwrap(), Outcome::RequeueAfter(CLEANER_RECHECK));
    // Issued 59 minutes ago: again a second after the hour is up.
    assert_eq!(cleaner.sync("issued").await.unwrap(), Outcome::RequeueAfter(Duration::from_secs(61)));
    assert!(writes.take().is_empty());
    // Deleted meanwhile (or recreated with another uid): not an error.
    *writes.error.lock().unwrap() = Some(404);
    assert_eq!(cleaner.sync("jane").await.unwrap(), Outcome::Done);
}

#[test]
fn the_manager_runs_the_signer_only_with_a_ca() {
    use crate::manager::{ControllerManager, ManagerConfig};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _guard = rt.enter();
    let client = kube::Client::try_from(kube::Config::new("http://127.0.0.1:1".parse().unwrap())).unwrap();
    let without = ControllerManager::new(client.clone(), &ManagerConfig::default()).unwrap();
    assert!(!without.enabled().contains(&"csrsigning") && without.enabled().contains(&"csrcleaner"));
    let config = ManagerConfig { csr_signing: Some(signing()), ..Default::default() };
    let with = ControllerManager::new(client.clone(), &config).unwrap();
    assert!(with.enabled().contains(&"csrsigning"));
    let config = ManagerConfig { disabled: vec!["csrsigning".into(), "csrcleaner".into()], ..config };
    let disabled = ControllerManager::new(client, &config).unwrap();
    assert!(!disabled.enabled().iter().any(|n| n.starts_with("csr")));
}
