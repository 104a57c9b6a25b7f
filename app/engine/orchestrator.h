#pragma once

// The saga orchestrator: drives many sagas at once, event-driven, in one thread
// (a parentless QObject that EngineHost moves to its QThread; tests may also use
// it directly in their own thread).
//
// Flow of one transition (write-ahead, group commit, pipelined):
//   decide -> queue a StoreTransition (saga waits) -> flush: the queued transitions
//   go to the CommitFeed, from which the BatchCommitters (each in its own thread
//   with its own connection) take batches the moment they are free, each batch
//   committed in ONE transaction -> reported (queued back here) -> eventsCommitted -> each
//   saga applies its committed events and decides its next action. A saga is in at
//   most one batch in flight, so its events are reported in seq order; with more
//   than one commit connection (PostgreSQL) two batches committing at the same time
//   may report in either order, so readers that need the global position order
//   sequence by position (the server's all-orders stream does). A step call goes
//   out only after its STEP_STARTED committed; its result is only acted upon once
//   committed. Transitions that need no step call in between (STEP_COMPLETED then
//   the next STEP_STARTED, SAGA_STARTED then the first STEP_STARTED, the steps of a
//   compensation start, SAGA_COMPLETED) are decided together and committed in the
//   same transaction, in seq order. While the database is unavailable the queue is
//   kept, the flush is retried with exponential backoff (reason logged and
//   signalled once), and a batch whose commit outcome is unknown is checked before
//   it is written again, so no transition is lost or written twice.
//
// A payment the service authorized for another amount than the order's total is no
// completed step: it fails PAYMENT_AMOUNT_MISMATCH, and the authorization is voided
// first (like a call that did not answer: reversalOwed), then the earlier steps.
//
// Compensation: completed steps in reverse order; a failing compensation is
// retried with backoff within EngineConfig::compensationBudgetMs, then the step
// ends FAILED (details.phase COMPENSATION) and the saga FAILED with
// details.compensationIncomplete = true. The budget counts from the event that
// began the compensation, so an engine that resumes it after a restart does not
// start it afresh; such an engine still makes three attempts before it gives up,
// and marks what it counted `resumed` (attempts before the restart are unknown).
//
// Leases: every execution this engine drives is leased to engineId(); leases are
// renewed every leaseSeconds/3; expired (or free) non-terminal executions are
// claimed and resumed; a commit for an execution whose lease was lost is refused
// by the store (Conflict) and the saga is dropped here.
//
// Retry: see retrypolicy.h (a retry re-runs all steps from Inventory Reservation).

#include "commitreport.h"
#include "engineconfig.h"
#include "retrypolicy.h"
#include "enginehost.h"
#include "sagastate.h"
#include "sagastore.h"
#include "stepcall.h"

#include <QHash>
#include <QObject>
#include <QSet>
#include <QThread>
#include <QTimer>
#include <QVector>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>

class BatchCommitter;
class CommitFeed;
class FaultInjector;
class StepClient;

class Orchestrator : public QObject
{
    Q_OBJECT
public:
    Orchestrator(const EngineConfig &config, std::shared_ptr<FaultInjector> faults);
    ~Orchestrator() override;

    // Replaces the step client (call before initialize(); used by tests).
    void setStepClient(std::unique_ptr<StepClient> client);
    StepClient *stepClient() const { return m_client.get(); }

    // Opens the store in the calling thread (this object's thread), migrates, starts
    // the lease timer and resumes unfinished sagas.
    bool initialize(QString *error);

    void submit(const OrderRequest &request, std::function<void(SubmitResult)> done);
    void eligibility(const QUuid &orderId, std::function<void(RetryEligibility, StoreError)> done);
    void retry(const RetryRequest &request, std::function<void(RetryDecision)> done);
    // No new sagas; waits up to graceMs for in-flight sagas, commits what is queued,
    // releases the leases of unfinished sagas (another engine or a restart resumes
    // them), closes the store, then calls done.
    void shutdown(int graceMs, std::function<void()> done);
    // Immediate stop (same as shutdown with no grace), synchronous.
    void stop();

    int activeSagaCount() const { return int(m_sagas.size()); }
    // Transitions decided but not yet known to be committed (queued, in flight, in doubt).
    int queuedTransitionCount() const;
    // As announced (databaseAvailabilityChanged): after an outage, only once the
    // database has taken a commit again.
    bool isDatabaseAvailable() const { return !m_outageAnnounced; }
    QString engineId() const { return m_engineId; }
    const EngineConfig &config() const { return m_config; }
    SagaStore *store() const { return m_store.get(); }
    // Number of batches committed so far (group commit statistics).
    qint64 committedBatches() const { return m_batches; }
    qint64 committedTransitions() const { return m_transitions; }
    // Commit connections, and the most batches that were ever in flight at once.
    int commitConnections() const { return int(m_committers.size()); }
    int maxBatchesInFlight() const;
    // Time the committer spent in the store (profiling), microseconds.
    qint64 commitMicros() const { return m_commitMicros; }
    // Answer callbacks (submit, eligibility, retry) invoked twice or never, by any
    // orchestrator in this process (each is invoked exactly once; also Q_ASSERTed).
    static int callbackViolations();

Q_SIGNALS:
    void eventsCommitted(const QVector<OrderEvent> &events);
    // The database went away (available=false, with what kind of outage and a
    // sentence for people) or came back (Outage::Unknown, empty reason). Signalled
    // again during an outage when its kind changes (e.g. unreachable, then disk full).
    void databaseAvailabilityChanged(bool available, const QString &reason, StoreError::Outage outage);
    // No saga is active and nothing is queued.
    void idle();

private:
    struct Pending {
        StoreTransition transition;
        std::function<void(bool committed, const OrderEvent &event)> done; // optional
        bool chainsNext = false; // the next queued transition is this saga's follow-up (same batch)
        bool settled = false;    // handed off and reported (its slot in m_handedOff is empty)
    };
    enum class Decision { Finish, Transition, Call };

    StoreTransition makeTransition(const SagaState &s, EventType type, std::optional<SagaStep> step,
                                   QJsonObject details = {}, ErrorInfo error = {}) const;
    void enqueue(SagaState &s, StoreTransition t,
                 std::function<void(bool committed, const OrderEvent &event)> done = {});
    void scheduleFlush();
    void flush();
    void handOff();
    void wakeCommitters();
    void takeBackUntaken();
    void onCommitReport(const CommitReport &report);
    void waitForCommit();
    bool startCommitters(QString *error);
    void stopCommitters();
    StoreError reconnectCommitters();
    bool anyInFlight() const { return !m_handedOff.empty(); }
    void countCommitted(int count);
    void finishCommitted(QVector<Pending> &done, const QVector<OrderEvent> &events);
    void reject(Pending p, const StoreError &error);
    std::optional<StoreTransition> recordableInstead(const SagaState &s, const StoreTransition &refused) const;
    void databaseLost(const StoreError &error);
    // During an outage, `e` is of another kind than announced: announce it. False otherwise.
    bool outageChanged(const StoreError &e);
    void withdrawUntriedStarts(const StoreError &error);
    void answerNotRecorded(QVector<Pending> &withdrawn, const StoreError &why);
    void reconnectTick();
    void databaseBack();
    void leaseTick();
    void claimAndResume(bool includeOwn);
    void resume(const ClaimedExecution &claimed);

    void advance(SagaState &s);
    // What advance() does next for a saga in state `s` (terminal: Finish). For
    // Transition, *t is the transition to queue; for Call, *step and *action.
    Decision decide(const SagaState &s, StoreTransition *t, SagaStep *step, StepAction *action) const;
    void callStep(SagaState &s, SagaStep step, StepAction action);
    void onStepResult(const QUuid &orderId, const QString &executionId, SagaStep step, StepAction action,
                      const StepOutcome &outcome);
    StepRequest buildRequest(const SagaState &s, SagaStep step, StepAction action) const;
    void finishSaga(const QUuid &orderId);
    void checkIdle();
    void finishShutdown();

    // An order with an Idempotency-Key whose id is `orderId`: answers `done` when
    // the key was used before (this engine's saga, or the stored order) and returns
    // true; false when no such order exists (the caller places it).
    bool answerKnownKey(const QUuid &orderId, const QString &digest, const std::function<void(SubmitResult)> &done);
    bool answerStoredKey(const QUuid &orderId, const QString &digest, const std::function<void(SubmitResult)> &done);
    // The submitters waiting for the first commit of keyed order `orderId`.
    void settleKeyWaiters(const QUuid &orderId, const std::function<void(const std::function<void(SubmitResult)> &)> &answer);

    bool gatherFacts(const QUuid &orderId, RetryFacts *facts, StoreError *error);
    // This engine's clock, Unix ms (EngineConfig::clockSkewMs off in tests).
    qint64 nowMs() const;

    EngineConfig m_config;
    QString m_engineId;
    std::shared_ptr<FaultInjector> m_faults;
    std::unique_ptr<StepClient> m_client;
    std::unique_ptr<SagaStore> m_store;
    struct UuidHash {
        size_t operator()(const QUuid &id) const noexcept { return qHash(id); }
    };
    // Looked up for every step result and committed event: hashed, not ordered.
    std::unordered_map<QUuid, std::unique_ptr<SagaState>, UuidHash> m_sagas;
    // Executions claimed and let go because their history holds an event type this
    // version does not know (resume()): each said once.
    QSet<QString> m_leftToNewerEngines;
    QVector<Pending> m_queue; // decided, not yet handed to a committer
    // Requests with an Idempotency-Key whose order this engine is recording:
    // answered when its first commit is reported.
    QHash<QUuid, QVector<std::function<void(SubmitResult)>>> m_keyWaiters;
    struct Committer {
        std::unique_ptr<QThread> thread;
        std::unique_ptr<BatchCommitter> worker; // lives in `thread`
    };
    std::vector<Committer> m_committers;
    std::shared_ptr<CommitFeed> m_feed;
    // Handed to the feed and not yet reported, in ticket order: m_handedOff[i] has
    // ticket m_frontTicket + i; the next one handed off gets m_nextTicket.
    std::deque<Pending> m_handedOff;
    quint64 m_frontTicket = 0;
    quint64 m_nextTicket = 0;
    // Transitions of batches the database went away under: the first `inDoubt` were
    // in a commit whose outcome is unknown (checked on reconnect), the rest untried.
    struct Doubtful {
        QVector<Pending> pending;
        int inDoubt = 0;
    };
    QVector<Doubtful> m_doubtful;
    bool m_leaseDue = false; // lease renewal waits until no batch is in flight
    bool m_draining = false; // waitForCommit() runs: nothing new goes to the committers
    qint64 m_commitMicros = 0;
    bool m_flushScheduled = false;
    bool m_available = true; // transitions may go to the committers
    // The loss was signalled and logged; cleared (and signalled) when a commit
    // succeeds again, not when a connection opens: a database that connects but
    // refuses every write for now (a full disk, a read-only standby) is one outage.
    bool m_outageAnnounced = false;
    StoreError::Outage m_outage = StoreError::Outage::Unknown; // as announced
    unsigned m_outagesLogged = 0; // kinds of outage logged in this one (bit per Outage)
    // Set only while withdrawUntriedStarts() answers the submitters it withdrew.
    StoreError m_notRecordedBecause;
    bool m_accepting = false;
    bool m_halted = false;
    int m_backoffMs = 100;
    qint64 m_batches = 0;
    qint64 m_transitions = 0;
    QTimer m_flushTimer;
    QTimer m_reconnectTimer;
    QTimer m_leaseTimer;
    QTimer m_graceTimer;
    std::function<void()> m_shutdownDone;
};
