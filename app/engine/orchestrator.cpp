#include "orchestrator.h"

#include "batchcommitter.h"
#include "batchplan.h"
#include "commitfeed.h"

#include "failurecatalog.h"
#include "faultinjector.h"
#include "httpstepclient.h"
#include "idempotentorder.h"
#include "sagajson.h"
#include "sagalog.h"
#include "simulatedstepclient.h"
#include "timeorderedid.h"

#include <QAtomicInt>
#include <QCoreApplication>
#include <QCryptographicHash>
#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QRandomGenerator>
#include <QSysInfo>

namespace {

constexpr int kMaxBatch = 512;
constexpr int kMinSplit = 32; // smallest batch worth a second committer
constexpr int kMaxChain = 4; // follow-up transitions decided together with one
constexpr int kClaimLimit = 200;
constexpr int kMaxBackoffMs = 5000;
// A failing compensation gives up once its budget, counted from the event that began
// it, is spent; one this engine resumed (loaded mid-way) only after this engine's own
// attempts number at least this many too, so it is tried a few times after a long stop.
constexpr int kMinResumedCompensationAttempts = 3;

QString defaultEngineId()
{
    return QStringLiteral("%1:%2:%3")
        .arg(QSysInfo::machineHostName())
        .arg(QCoreApplication::applicationPid())
        .arg(QRandomGenerator::global()->generate() & 0xffffff, 6, 16, QLatin1Char('0'));
}

// Why the engine could not start on its database, as a sentence that says what to
// check. A SQLite file is not "running": it is a file that could not be opened or
// prepared (its folder, its permissions, a lock another program holds); the
// store's message for it names the file or the migration, never SQL.
QString openFailure(const DatabaseUrl &url, const StoreError &e)
{
    if (!url.isPostgres()) {
        if (e.kind == StoreError::Unavailable) {
            switch (e.outage) {
            case StoreError::Outage::Damaged:
                return QStringLiteral("The database file %1 is damaged (%2); restore it from a backup, or move it "
                                      "away to start with a new one.")
                    .arg(url.path, e.message);
            case StoreError::Outage::DiskFull:
                return QStringLiteral("Cannot write the database file %1 (%2): its disk is full; free some space.")
                    .arg(url.path, e.message);
            case StoreError::Outage::ReadOnly:
                return QStringLiteral("Cannot write the database file %1 (%2): it is read-only for this user; make the "
                                      "file, and its folder, writable.")
                    .arg(url.path, e.message);
            case StoreError::Outage::IoError:
                return QStringLiteral("Cannot open the database file %1 (%2): its disk reports an error; check the "
                                      "disk and that it has free space.")
                    .arg(url.path, e.message);
            default:
                return QStringLiteral("Cannot open the database file %1 (%2); check that its folder exists and is "
                                      "writable and that no other program keeps it locked.")
                    .arg(url.path, e.message);
            }
        }
        return QStringLiteral("Cannot use the database file %1: %2. Its contents were left as they are.")
            .arg(url.path, e.message);
    }
    if (e.kind == StoreError::Unavailable) // e: the server's own words (no such database, a refused login, ...)
        return QStringLiteral("Cannot connect to the database %1 (%2); check that it is running, the URL is right "
                              "and the user may log in.")
            .arg(url.toString(), e.message);
    if (e.message.contains(QLatin1String("(42501)"))) // insufficient_privilege: creating or upgrading the schema
        return QStringLiteral("Cannot prepare the database %1 (%2): the user %3 may not create or change its tables. "
                              "Start this program once as the database's owner (or a user allowed to create in "
                              "schema public) to create or upgrade the schema; after that %3 needs only to read and "
                              "write rows.")
            .arg(url.toString(), e.message, url.user.isEmpty() ? QStringLiteral("you connect as") : url.user);
    return QStringLiteral("Cannot prepare the database %1 (%2).").arg(url.toString(), e.message);
}

// What a person sees while the database is away (never the driver's words: they
// may hold SQL, host names or paths; the log has them).
QString availabilityReason(StoreError::Outage outage)
{
    using O = StoreError::Outage;
    switch (outage) {
    case O::Unreachable:
        return QStringLiteral("The database cannot be reached; sagas are paused and will resume when it is back.");
    case O::FileGone:
        return QStringLiteral("The database file was deleted or replaced while in use; sagas are paused until it is "
                              "back or the program restarts.");
    case O::ReadOnly:
        return QStringLiteral("The database takes no writes (it is read-only); sagas are paused and will resume once "
                              "it takes writes again.");
    case O::DiskFull:
        return QStringLiteral("The database's disk is full; sagas are paused and will resume once space is freed.");
    case O::Locked:
        return QStringLiteral("Another program holds the database's write lock; sagas are paused and will resume when "
                              "it lets go.");
    case O::Busy:
        return QStringLiteral("The database is too busy to take writes (timeouts, too many connections or conflicts); "
                              "sagas are paused and retried.");
    case O::IoError:
        return QStringLiteral("The database reports an I/O error; sagas are paused and retried. Check its disk.");
    case O::Damaged:
        return QStringLiteral("The database file is damaged (SQLite finds it malformed); sagas are paused. Restore it "
                              "from a backup.");
    case O::Unknown:
        break;
    }
    return QStringLiteral("The database is unavailable; sagas are paused and will resume when it is back.");
}

// A saga's or a compensation's "compensation incomplete", with the step service's
// own answer after the fixed words ("compensation incomplete: The compensation
// failed (injected)."), so an injected failure reads as one and support sees why.
ErrorInfo incompleteError(const ErrorInfo &answer)
{
    const QString why = answer.message.isEmpty() ? answer.code : answer.message;
    return ErrorInfo{QStringLiteral("COMPENSATION_FAILED"), why.isEmpty() ? QStringLiteral("compensation incomplete")
                                                                          : QStringLiteral("compensation incomplete: ") + why};
}

// An execution that failed and is being reversed (ROLLING_BACK, or a call that did
// not answer being reversed before that), not ended yet: a retry may come after it.
bool reversing(const SagaState &s)
{
    return !s.isTerminal() && (s.overall == OverallStatus::RollingBack || s.failedStep);
}

bool uncertainForwardFailure(const QString &code)
{
    return code == QLatin1String("STEP_TIMEOUT") || code == QLatin1String("SERVICE_UNAVAILABLE");
}

// A payment answer that says it authorized another amount than the order's total
// (99999999 for 3000; 12.75, "abc"): what it said (a text in quotes); empty when it
// authorized the total or named no amount. The amount may come as a number or as its
// decimal text ("3000").
QString otherAmount(const QJsonObject &result, qint64 totalInCents)
{
    const QJsonValue amount = result.value(QLatin1String("amountInCents"));
    if (amount.isUndefined() || amount.isNull())
        return {};
    if (amount.isDouble() && amount.toDouble() == double(totalInCents))
        return {};
    if (amount.isString()) {
        bool number = false;
        const QString text = amount.toString();
        const qint64 cents = text.toLongLong(&number);
        if (number && cents == totalInCents && text == QString::number(cents))
            return {};
        return QLatin1Char('"') + text + QLatin1Char('"');
    }
    const QByteArray text = QJsonDocument(QJsonArray{amount}).toJson(QJsonDocument::Compact);
    return QString::fromUtf8(text.mid(1, text.size() - 2));
}

QAtomicInt g_callbackViolations;

void callbackViolation(const char *what, const char *how)
{
    g_callbackViolations.fetchAndAddRelaxed(1);
    qCCritical(lcEngine, "%s callback %s", what, how);
    Q_ASSERT_X(false, what, how);
}

// The caller's answer callback, invoked exactly once: a second call is dropped (and
// counted), a callback destroyed unanswered is counted too.
template<typename... Args>
std::function<void(Args...)> exactlyOnce(std::function<void(Args...)> fn, const char *what)
{
    struct State {
        std::function<void(Args...)> fn;
        const char *what = nullptr;
        bool called = false;
        ~State()
        {
            if (!called)
                callbackViolation(what, "never invoked");
        }
    };
    auto state = std::make_shared<State>();
    state->fn = std::move(fn);
    state->what = what;
    return [state](Args... args) {
        if (state->called) {
            callbackViolation(state->what, "invoked twice");
            return;
        }
        state->called = true;
        if (state->fn)
            state->fn(std::forward<Args>(args)...);
    };
}

} // namespace

int Orchestrator::callbackViolations()
{
    return g_callbackViolations.loadRelaxed();
}

qint64 Orchestrator::nowMs() const
{
    return QDateTime::currentMSecsSinceEpoch() + m_config.clockSkewMs;
}

Orchestrator::Orchestrator(const EngineConfig &config, std::shared_ptr<FaultInjector> faults)
    : m_config(config)
    , m_engineId(config.engineId.isEmpty() ? defaultEngineId() : config.engineId)
    , m_faults(std::move(faults))
    , m_flushTimer(this)
    , m_reconnectTimer(this)
    , m_leaseTimer(this)
    , m_graceTimer(this)
{
    if (!m_faults)
        m_faults = std::make_shared<FaultInjector>();
    m_flushTimer.setSingleShot(true);
    m_flushTimer.setInterval(0);
    connect(&m_flushTimer, &QTimer::timeout, this, &Orchestrator::flush);
    m_reconnectTimer.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, &Orchestrator::reconnectTick);
    m_leaseTimer.setInterval(qMax(200, m_config.leaseSeconds * 1000 / 3));
    connect(&m_leaseTimer, &QTimer::timeout, this, &Orchestrator::leaseTick);
    m_graceTimer.setSingleShot(true);
    connect(&m_graceTimer, &QTimer::timeout, this, &Orchestrator::finishShutdown);
}

Orchestrator::~Orchestrator()
{
    stop();
}

void Orchestrator::setStepClient(std::unique_ptr<StepClient> client)
{
    m_client = std::move(client);
}

bool Orchestrator::initialize(QString *error)
{
    if (!m_client) {
        if (m_config.stepsBaseUrl.isEmpty())
            m_client = std::make_unique<SimulatedStepClient>(m_faults, m_config.stepDelayMs, m_config.stepTimeoutMs);
        else
            m_client = std::make_unique<HttpStepClient>(m_config.stepsBaseUrl, m_config.stepTimeoutMs,
                                                        m_config.stepRetries);
    }
    const QString connectionName = QStringLiteral("saga-engine-%1-%2")
                                       .arg(quintptr(this), 0, 16)
                                       .arg(QRandomGenerator::global()->generate(), 0, 16);
    m_store = std::make_unique<SagaStore>(m_config.database, connectionName);
    m_store->setClockSkewForTesting(m_config.clockSkewMs);
    if (StoreError e = m_store->open()) {
        qCWarning(lcStore) << "cannot open the database" << m_config.database.toString() << e.message;
        if (error)
            *error = openFailure(m_config.database, e);
        m_store.reset();
        return false;
    }
    if (!startCommitters(error)) {
        m_store.reset();
        return false;
    }
    qCInfo(lcEngine) << "engine" << m_engineId << "started on" << m_config.database.toString() << "with"
                     << m_client->describe() << "steps";
    m_accepting = true;
    m_available = true;
    m_leaseTimer.start();
    // A database that takes no writes at all (a SQLite file this user may not write, which
    // SQLite then opens read-only; a PostgreSQL standby) is said now, paused like any
    // outage until it takes writes, not only at the first order or saga to take over.
    // (Only that: a write lock another engine holds for a moment is no outage.)
    const StoreError refused = m_store->checkWritable(0);
    if (refused.kind == StoreError::Unavailable && refused.outage == StoreError::Outage::ReadOnly)
        databaseLost(refused);
    if (m_config.resumeOnStart)
        claimAndResume(true);
    return true;
}

// ---- requests -----------------------------------------------------------------

void Orchestrator::submit(const OrderRequest &request, std::function<void(SubmitResult)> callerDone)
{
    auto done = exactlyOnce(std::move(callerDone), "submit");
    SubmitResult result;
    if (!m_store || !m_accepting || m_halted) {
        result.error = StoreError{StoreError::Unavailable, QStringLiteral("The engine is not running.")};
        done(result);
        return;
    }
    if (request.items.isEmpty() || request.paymentMethodId.isEmpty() || request.customerId.isNull()) {
        result.error = StoreError{StoreError::Invalid, QStringLiteral("The order needs a customer, items and a payment method.")};
        done(result);
        return;
    }
    if (!m_available || m_outageAnnounced) {
        result.error = StoreError{StoreError::Unavailable, availabilityReason(m_outage)};
        done(result);
        return;
    }
    const bool keyed = !request.idempotencyKey.isEmpty();
    QString digest;
    QUuid newId;
    if (keyed) {
        newId = IdempotentOrder::orderId(request.customerId, request.idempotencyKey);
        digest = IdempotentOrder::requestDigest(request);
        if (answerKnownKey(newId, digest, done))
            return;
    } else {
        newId = timeOrderedUuid();
    }
    auto saga = std::make_unique<SagaState>();
    SagaState &s = *saga;
    s.orderId = newId;
    s.requestDigest = digest;
    s.customerId = request.customerId;
    s.traceId = request.traceId;
    s.items = request.items;
    s.paymentMethodId = request.paymentMethodId;
    s.shippingAddress = request.shippingAddress;
    s.totalInCents = request.totalInCents();
    s.executionId = timeOrderedUuid().toString(QUuid::WithoutBraces);
    s.attemptNumber = 1;

    QJsonObject details{{QStringLiteral("customerId"), s.customerId.toString(QUuid::WithoutBraces)},
                        {QStringLiteral("executionId"), s.executionId},
                        {QStringLiteral("attemptNumber"), 1},
                        {QStringLiteral("isRetry"), false},
                        {QStringLiteral("totalInCents"), s.totalInCents}};
    if (!s.traceId.isEmpty())
        details.insert(QStringLiteral("traceId"), s.traceId);
    if (keyed) {
        details.insert(QStringLiteral("idempotencyKey"), request.idempotencyKey);
        details.insert(QStringLiteral("requestDigest"), digest);
    }
    StoreTransition t = makeTransition(s, EventType::SagaStarted, std::nullopt, details);
    t.newOrder = request;
    t.newOrderId = s.orderId;
    t.newOrderMayExist = keyed;
    const QUuid orderId = s.orderId;
    m_sagas.emplace(orderId, std::move(saga));
    enqueue(*m_sagas[orderId], std::move(t), [this, done, orderId, keyed, digest](bool committed, const OrderEvent &event) {
        SubmitResult r;
        if (committed) {
            r.orderId = orderId;
            r.orderNumber = event.details.value(QStringLiteral("orderNumber")).toString();
        } else if (m_notRecordedBecause) {
            r.error = m_notRecordedBecause;
        } else if (keyed) {
            // Refused: another request with this key (another engine) wrote the
            // order first, or it was refused for another reason.
            const auto answerFromStore = [this, orderId, digest](const std::function<void(SubmitResult)> &answer) {
                if (!answerStoredKey(orderId, digest, answer)) {
                    SubmitResult refused;
                    refused.error = StoreError{StoreError::Conflict, QStringLiteral("The order could not be recorded.")};
                    answer(refused);
                }
            };
            answerFromStore(done);
            settleKeyWaiters(orderId, answerFromStore);
            return;
        } else {
            r.error = StoreError{StoreError::Conflict, QStringLiteral("The order could not be recorded.")};
        }
        done(r);
        if (keyed) {
            settleKeyWaiters(orderId, [r](const std::function<void(SubmitResult)> &answer) {
                SubmitResult again = r;
                again.replayed = r.error.ok();
                answer(again);
            });
        }
    });
}

bool Orchestrator::answerKnownKey(const QUuid &orderId, const QString &digest,
                                  const std::function<void(SubmitResult)> &done)
{
    if (auto running = m_sagas.find(orderId); running != m_sagas.end() && !running->second->requestDigest.isEmpty()) {
        // Placed by this engine (a saga resumed here has no digest: the store says).
        const SagaState &s = *running->second;
        SubmitResult r;
        r.orderId = orderId;
        if (s.requestDigest != digest) {
            r.keyReused = true;
            done(r);
        } else if (s.orderNumber.isEmpty()) {
            m_keyWaiters[orderId].append(done); // its first commit is on its way
        } else {
            r.replayed = true;
            r.orderNumber = s.orderNumber;
            done(r);
        }
        return true;
    }
    return answerStoredKey(orderId, digest, done);
}

bool Orchestrator::answerStoredKey(const QUuid &orderId, const QString &digest,
                                   const std::function<void(SubmitResult)> &done)
{
    SubmitResult r;
    if (!m_store) { // stopped meanwhile
        r.error = StoreError{StoreError::Unavailable, QStringLiteral("The engine is not running.")};
        done(r);
        return true;
    }
    auto order = m_store->loadOrder(orderId);
    if (order.error.kind == StoreError::NotFound)
        return false;
    std::optional<OrderEvent> started;
    if (order.ok()) {
        auto first = m_store->findEvent(orderId, 1);
        if (first.ok())
            started = first.value;
        else
            order.error = first.error;
    }
    if (!order.ok()) {
        r.error = order.error;
        done(r);
        return true;
    }
    r.orderId = orderId;
    if (!started || started->details.value(QStringLiteral("requestDigest")).toString() != digest) {
        r.keyReused = true;
    } else {
        r.replayed = true;
        r.orderNumber = order.value.orderNumber;
    }
    done(r);
    return true;
}

void Orchestrator::settleKeyWaiters(const QUuid &orderId,
                                    const std::function<void(const std::function<void(SubmitResult)> &)> &answer)
{
    const QVector<std::function<void(SubmitResult)>> waiting = m_keyWaiters.take(orderId);
    for (const auto &done : waiting)
        answer(done);
}

bool Orchestrator::gatherFacts(const QUuid &orderId, RetryFacts *facts, StoreError *error)
{
    facts->now = QDateTime::fromMSecsSinceEpoch(nowMs(), Qt::UTC);
    facts->maxRetries = m_config.maxRetries;
    facts->cooldownSeconds = m_config.retryCooldownSeconds;
    const auto record = m_store->retryRecord(orderId); // one snapshot: other engines retry too
    if (record.error.kind == StoreError::NotFound) {
        facts->orderExists = false;
        return true;
    }
    if (!record.ok()) {
        *error = record.error;
        return false;
    }
    facts->latestStatus = record.value.latest.status;
    facts->latestAttempt = record.value.latest.attemptNumber;
    if (record.value.lastFailure) {
        const OrderEvent &e = *record.value.lastFailure;
        facts->compensationIncomplete = e.details.value(QStringLiteral("compensationIncomplete")).toBool();
        facts->failureCode = e.details.value(QStringLiteral("failureCode")).toString(e.error.code);
    }
    if (!record.value.attempts.isEmpty())
        facts->lastRetryInitiatedAt = record.value.attempts.last().initiatedAt;
    return true;
}

void Orchestrator::eligibility(const QUuid &orderId, std::function<void(RetryEligibility, StoreError)> callerDone)
{
    auto done = exactlyOnce(std::move(callerDone), "eligibility");
    if (!m_store || m_halted) {
        done({}, StoreError{StoreError::Unavailable, QStringLiteral("The engine is not running.")});
        return;
    }
    if (auto running = m_sagas.find(orderId); running != m_sagas.end() && running->second->endQueued) {
        // As in retry(): its end is being committed; asked again once this engine let it go.
        QTimer::singleShot(5, this, [this, orderId, done] { eligibility(orderId, done); });
        return;
    }
    RetryFacts facts;
    StoreError error;
    if (!gatherFacts(orderId, &facts, &error)) {
        if (error.kind == StoreError::Unavailable)
            databaseLost(error);
        done({}, error);
        return;
    }
    if (!facts.orderExists) {
        done({}, StoreError{StoreError::NotFound, QStringLiteral("order not found")});
        return;
    }
    if (auto running = m_sagas.find(orderId); running != m_sagas.end()) {
        // A retry whose start is not committed yet: the store and its state still
        // show the failed attempt; it counts as the next one.
        const SagaState &r = *running->second;
        facts.latestStatus = reversing(r) ? OverallStatus::RollingBack : OverallStatus::InProgress;
        facts.latestAttempt = qMax(facts.latestAttempt, r.isTerminal() ? r.attemptNumber + 1 : r.attemptNumber);
    }
    done(RetryPolicy::evaluate(facts).eligibility, {});
}

void Orchestrator::retry(const RetryRequest &request, std::function<void(RetryDecision)> callerDone)
{
    auto done = exactlyOnce(std::move(callerDone), "retry");
    RetryDecision decision;
    auto answer = [&](RetryDecision::Code code, const QString &reason) {
        decision.code = code;
        decision.reason = reason;
        done(decision);
    };
    if (!m_store || !m_accepting || m_halted)
        return answer(RetryDecision::Unavailable, QStringLiteral("The engine is not running."));
    if (!m_available || m_outageAnnounced)
        return answer(RetryDecision::Unavailable, availabilityReason(m_outage));
    if (auto running = m_sagas.find(request.orderId); running != m_sagas.end()) {
        if (running->second->endQueued) {
            // Its end is being committed (a reader may have seen it already, e.g. via
            // NOTIFY): asked again in a moment, when this engine has let it go.
            QTimer::singleShot(5, this, [this, request, done] { retry(request, done); });
            return;
        }
        // (A retry whose start is not committed yet still has the failed attempt's state.)
        const SagaState &r = *running->second;
        if (r.attemptNumber <= 1 && !r.isTerminal())
            return answer(RetryDecision::NotFailed, reversing(r) ? RetryPolicy::beingReversedReason()
                                                                 : RetryPolicy::stillRunningReason());
        return answer(RetryDecision::AlreadyInProgress, RetryPolicy::retryRunningReason(reversing(r)));
    }
    RetryFacts facts;
    StoreError error;
    if (!gatherFacts(request.orderId, &facts, &error)) {
        if (error.kind == StoreError::Unavailable)
            databaseLost(error);
        return answer(RetryDecision::Unavailable, QStringLiteral("The database is unavailable."));
    }
    const RetryVerdict verdict = RetryPolicy::evaluate(facts);
    if (verdict.code != RetryDecision::Accepted) {
        decision.nextRetryAvailableAt = verdict.eligibility.nextRetryAvailableAt;
        return answer(verdict.code, verdict.eligibility.reason);
    }
    auto order = m_store->loadOrder(request.orderId);
    auto events = order.ok() ? m_store->loadEvents(request.orderId, 0) : StoreResult<QVector<OrderEvent>>{{}, order.error};
    if (!order.ok() || !events.ok()) {
        const StoreError e = order.ok() ? events.error : order.error;
        if (e.kind == StoreError::Unavailable) {
            databaseLost(e);
            return answer(RetryDecision::Unavailable, QStringLiteral("The database is unavailable."));
        }
        return answer(RetryDecision::NotFound, QStringLiteral("order not found"));
    }
    auto saga = std::make_unique<SagaState>(SagaState::fromHistory(order.value, events.value));
    SagaState &s = *saga;
    // What the retry changed stays on record (which card was declined, that the
    // address was corrected): the order row keeps only the new values.
    QJsonObject corrections;
    if (request.paymentMethodId && !request.paymentMethodId->isEmpty()) {
        if (*request.paymentMethodId != s.paymentMethodId)
            corrections.insert(QStringLiteral("paymentMethodId"),
                               QJsonObject{{QStringLiteral("previous"), s.paymentMethodId},
                                           {QStringLiteral("corrected"), *request.paymentMethodId}});
        s.paymentMethodId = *request.paymentMethodId;
    }
    if (request.shippingAddress) {
        if (!(*request.shippingAddress == s.shippingAddress))
            corrections.insert(QStringLiteral("shippingAddress"),
                               QJsonObject{{QStringLiteral("previous"), SagaJson::shippingAddressToJson(s.shippingAddress)},
                                           {QStringLiteral("corrected"),
                                            SagaJson::shippingAddressToJson(*request.shippingAddress)}});
        s.shippingAddress = *request.shippingAddress;
    }
    const int attempt = facts.latestAttempt + 1;
    const QString executionId = timeOrderedUuid().toString(QUuid::WithoutBraces);
    const QString resumedFrom = stepDisplayName(SagaStep::Inventory);
    const QString traceId = request.traceId.isEmpty() ? s.traceId : request.traceId;
    QJsonObject details{{QStringLiteral("orderNumber"), s.orderNumber},
                        {QStringLiteral("customerId"), s.customerId.toString(QUuid::WithoutBraces)},
                        {QStringLiteral("executionId"), executionId},
                        {QStringLiteral("attemptNumber"), attempt},
                        {QStringLiteral("isRetry"), true},
                        {QStringLiteral("totalInCents"), s.totalInCents},
                        {QStringLiteral("resumedFromStep"), resumedFrom}};
    if (!traceId.isEmpty())
        details.insert(QStringLiteral("traceId"), traceId);
    if (!corrections.isEmpty())
        details.insert(QStringLiteral("corrections"), corrections);
    StoreTransition t = makeTransition(s, EventType::SagaStarted, std::nullopt, details);
    t.retry = request;
    t.resumedFromStep = resumedFrom;
    const QUuid orderId = s.orderId;
    m_sagas.emplace(orderId, std::move(saga));
    enqueue(*m_sagas[orderId], std::move(t), [this, done, attempt, executionId](bool committed, const OrderEvent &) {
        RetryDecision d;
        if (committed) {
            d.code = RetryDecision::Accepted;
            d.attemptNumber = attempt;
            d.executionId = executionId;
        } else if (m_notRecordedBecause.kind == StoreError::Unavailable) {
            d.code = RetryDecision::Unavailable;
            d.reason = availabilityReason(m_notRecordedBecause.outage);
        } else {
            d.code = RetryDecision::AlreadyInProgress;
            d.reason = QStringLiteral("retry already in progress");
        }
        done(d);
    });
}

// ---- transitions and group commit ----------------------------------------------

StoreTransition Orchestrator::makeTransition(const SagaState &s, EventType type, std::optional<SagaStep> step,
                                             QJsonObject details, ErrorInfo error) const
{
    StoreTransition t;
    t.event.orderId = s.orderId;
    t.event.seq = s.lastSeq + 1;
    t.event.type = type;
    t.event.step = step;
    t.event.timestamp = QDateTime::fromMSecsSinceEpoch(nowMs(), Qt::UTC);
    t.event.details = std::move(details);
    t.event.error = std::move(error);
    SagaState after = s;
    after.apply(t.event);
    t.executionId = after.executionId;
    t.attemptNumber = after.attemptNumber;
    t.overall = after.overall;
    t.currentStep = after.currentStep;
    if (step)
        t.stepStatus = after.step(*step);
    if (type == EventType::StepCompleted)
        t.stepResult = t.event.details;
    return t;
}

void Orchestrator::enqueue(SagaState &s, StoreTransition t, std::function<void(bool, const OrderEvent &)> done)
{
    s.awaitingCommit = true;
    // The transitions' stored text is worked out here, while the committers work
    // on earlier batches, instead of in a committer's turn.
    BatchPlan::encode(t);
    m_queue.append(Pending{std::move(t), std::move(done), false});
    // Decide the follow-ups that need no step call now, on the state the queued
    // transitions imply, so they commit in the same transaction (seq order kept).
    SagaState after = s;
    after.apply(m_queue.last().transition.event);
    for (int i = 0; i < kMaxChain && !m_halted; ++i) {
        StoreTransition next;
        SagaStep step = SagaStep::Inventory;
        StepAction action = StepAction::Forward;
        if (decide(after, &next, &step, &action) != Decision::Transition)
            break;
        after.apply(next.event);
        BatchPlan::encode(next);
        m_queue.last().chainsNext = true;
        m_queue.append(Pending{std::move(next), {}, false});
    }
    s.lastQueuedSeq = m_queue.last().transition.event.seq;
    s.endQueued = after.isTerminal();
    // Straight into the feed, where a committer takes it at once if it is free, or
    // with whatever else arrives before it is done (group commit) if it is busy,
    // without waiting for this thread to get round to its report. Waking it for a
    // saga or two at light load costs ~1 % of a saga's time; waiting for the end of
    // this pass of the event loop instead left it idle at 2,000 in flight.
    if (!m_committers.empty() && m_available && m_doubtful.isEmpty() && !m_halted && !m_leaseDue && !m_draining) {
        handOff();
        wakeCommitters();
    } else {
        scheduleFlush();
    }
}

void Orchestrator::scheduleFlush()
{
    if (m_available && !m_flushTimer.isActive())
        m_flushTimer.start();
}

void Orchestrator::flush()
{
    if (m_committers.empty() || !m_available || !m_doubtful.isEmpty() || m_halted || m_draining)
        return;
    if (m_leaseDue) {
        if (anyInFlight()) {
            wakeCommitters(); // for what the feed holds; renewal waits for it
            return;
        }
        m_leaseDue = false;
        leaseTick(); // may find the database gone
        if (!m_available)
            return;
    }
    handOff();
    wakeCommitters();
}

void Orchestrator::handOff()
{
    // Everything queued goes to the feed at once; the committers take it in batches
    // of at most kMaxBatch, split over several free ones in parts of at least kMinSplit.
    if (m_queue.isEmpty())
        return;
    std::vector<CommitFeed::Item> items;
    items.reserve(size_t(m_queue.size()));
    for (Pending &p : m_queue) {
        items.push_back(CommitFeed::Item{p.transition, p.chainsNext});
        m_handedOff.push_back(std::move(p));
    }
    m_queue.clear();
    const quint64 first = m_nextTicket;
    m_nextTicket += items.size();
    m_feed->append(first, std::move(items));
}

void Orchestrator::wakeCommitters()
{
    for (int index : m_feed->wake()) {
        BatchCommitter *worker = m_committers[size_t(index)].worker.get();
        QMetaObject::invokeMethod(worker, [worker] { worker->run(); }, Qt::QueuedConnection);
    }
}

void Orchestrator::takeBackUntaken()
{
    // The untaken items are the newest tickets: the tail of m_handedOff, back to the
    // front of the queue, in order (they come before anything queued since).
    const int n = m_feed ? m_feed->withdraw() : 0;
    if (n == 0)
        return;
    Q_ASSERT(size_t(n) <= m_handedOff.size());
    QVector<Pending> back;
    back.reserve(n + m_queue.size());
    for (size_t i = m_handedOff.size() - size_t(n); i < m_handedOff.size(); ++i)
        back.append(std::move(m_handedOff[i]));
    m_handedOff.resize(m_handedOff.size() - size_t(n));
    m_nextTicket -= quint64(n);
    back.append(std::move(m_queue));
    m_queue = std::move(back);
}

int Orchestrator::maxBatchesInFlight() const
{
    return m_feed ? m_feed->maxCommitting() : 0;
}

void Orchestrator::onCommitReport(const CommitReport &report)
{
    const quint64 first = report.firstTicket;
    if (report.count <= 0 || first < m_frontTicket || first + quint64(report.count) > m_frontTicket + m_handedOff.size())
        return; // stale (after stop)
    QVector<Pending> pending;
    pending.reserve(report.count);
    for (quint64 t = first; t < first + quint64(report.count); ++t) {
        Pending &slot = m_handedOff[size_t(t - m_frontTicket)];
        if (slot.settled)
            return; // reported already (cannot happen: each ticket is taken once)
        pending.append(std::move(slot));
        slot.settled = true;
    }
    while (!m_handedOff.empty() && m_handedOff.front().settled) {
        m_handedOff.pop_front();
        ++m_frontTicket;
    }
    m_commitMicros += report.commitMicros;
    qCDebug(lcStore) << "batch" << report.firstTicket << "of" << report.count << (report.whole ? "committed" : "refused")
                     << report.singles.size() << "singles;" << report.inDoubt << "in doubt";
    if (report.whole) {
        databaseBack();
        countCommitted(int(pending.size()));
        // Pipelining: the next batch commits while this one's sagas move on.
        flush();
        finishCommitted(pending, report.events);
        scheduleFlush();
        return;
    }
    int settled = 0;
    for (const CommitReport::Single &one : report.singles) {
        if (settled >= pending.size())
            break;
        if (one.committed) {
            databaseBack();
            QVector<Pending> done{std::move(pending[settled])};
            countCommitted(1);
            finishCommitted(done, {one.event});
        } else {
            if (one.error.kind != StoreError::Unavailable)
                databaseBack(); // refused (a lost lease, say): the database answered
            reject(std::move(pending[settled]), one.error);
        }
        ++settled;
    }
    pending.remove(0, settled);
    if (report.unavailable) {
        if (!pending.isEmpty()) {
            const int inDoubt = qMin(report.inDoubt, int(pending.size()));
            m_doubtful.append(Doubtful{std::move(pending), inDoubt});
        }
        databaseLost(report.unavailable);
        return;
    }
    scheduleFlush();
}

void Orchestrator::waitForCommit()
{
    if (!anyInFlight())
        return;
    // Each committer commits what is left in the feed, then handles this call; once
    // these return, every report is posted here. Handling them decides further
    // transitions: they stay queued here until this is over, so nothing is handed
    // to a committer that could still be committing it once this returns.
    m_draining = true;
    for (Committer &c : m_committers) {
        BatchCommitter *worker = c.worker.get();
        QMetaObject::invokeMethod(worker, [worker] { worker->run(); }, Qt::BlockingQueuedConnection);
    }
    QCoreApplication::sendPostedEvents(this, QEvent::MetaCall);
    m_draining = false;
    takeBackUntaken(); // left by a committer that lost the database: untried
    if (m_handedOff.empty())
        return;
    QVector<Pending> unreported;
    for (Pending &p : m_handedOff) {
        if (!p.settled)
            unreported.append(std::move(p));
    }
    m_handedOff.clear();
    m_frontTicket = m_nextTicket;
    if (unreported.isEmpty())
        return;
    qCWarning(lcStore) << "no report for" << unreported.size() << "transitions handed to the committers;"
                       << "they stay queued";
    const int inDoubt = int(unreported.size());
    m_doubtful.append(Doubtful{std::move(unreported), inDoubt});
}

bool Orchestrator::startCommitters(QString *error)
{
    int count = m_config.commitConnections;
    if (count <= 0)
        count = m_config.database.isPostgres() ? 2 : 1;
    if (!m_config.database.isPostgres())
        count = 1; // SQLite has one writer at a time
    m_feed = std::make_shared<CommitFeed>(count, kMaxBatch, kMinSplit);
    for (int i = 0; i < count; ++i) {
        const QString connectionName = QStringLiteral("saga-commit-%1-%2-%3")
                                           .arg(quintptr(this), 0, 16)
                                           .arg(i)
                                           .arg(QRandomGenerator::global()->generate(), 0, 16);
        Committer c;
        c.thread = std::make_unique<QThread>();
        c.thread->setObjectName(QStringLiteral("saga-commit"));
        c.worker = std::make_unique<BatchCommitter>(m_config.database, connectionName, m_engineId,
                                                    qint64(m_config.leaseSeconds) * 1000, m_feed, i,
                                                    m_config.clockSkewMs);
        c.worker->moveToThread(c.thread.get());
        connect(c.worker.get(), &BatchCommitter::reported, this,
                [this](const CommitReport &report) { onCommitReport(report); });
        c.thread->start();
        StoreError opened;
        BatchCommitter *worker = c.worker.get();
        m_committers.push_back(std::move(c));
        QMetaObject::invokeMethod(worker, [worker, &opened] { opened = worker->open(); }, Qt::BlockingQueuedConnection);
        if (opened) {
            if (error)
                *error = openFailure(m_config.database, opened);
            stopCommitters();
            return false;
        }
    }
    return true;
}

void Orchestrator::stopCommitters()
{
    for (Committer &c : m_committers) {
        if (c.thread && c.thread->isRunning()) {
            BatchCommitter *worker = c.worker.get();
            QMetaObject::invokeMethod(worker, [worker] { worker->close(); }, Qt::BlockingQueuedConnection);
            c.thread->quit();
            c.thread->wait();
        }
    }
    m_committers.clear();
}

StoreError Orchestrator::reconnectCommitters()
{
    if (m_committers.empty())
        return StoreError{StoreError::Unavailable, QStringLiteral("committer is not running")};
    for (Committer &c : m_committers) {
        StoreError e;
        BatchCommitter *worker = c.worker.get();
        QMetaObject::invokeMethod(worker, [worker, &e] { e = worker->reconnect(); }, Qt::BlockingQueuedConnection);
        if (e)
            return e;
    }
    return {};
}

int Orchestrator::queuedTransitionCount() const
{
    int n = int(m_queue.size());
    for (const Pending &p : m_handedOff)
        n += p.settled ? 0 : 1;
    for (const Doubtful &d : m_doubtful)
        n += int(d.pending.size());
    return n;
}

void Orchestrator::countCommitted(int count)
{
    ++m_batches;
    m_transitions += count;
}

void Orchestrator::finishCommitted(QVector<Pending> &done, const QVector<OrderEvent> &events)
{
    Q_EMIT eventsCommitted(events);
    const int count = qMin(int(done.size()), int(events.size()));
    for (int i = 0; i < count; ++i) {
        const OrderEvent &event = events[i];
        auto it = m_sagas.find(event.orderId);
        if (it != m_sagas.end()) {
            SagaState &s = *it->second;
            s.apply(event);
            if (event.seq >= s.lastQueuedSeq)
                s.awaitingCommit = false;
        }
        if (done[i].done)
            done[i].done(true, event);
        it = m_sagas.find(event.orderId);
        if (it != m_sagas.end())
            advance(*it->second);
    }
    // Every caller is answered exactly once, even if the store reported fewer events.
    for (int i = count; i < done.size(); ++i) {
        qCWarning(lcEngine) << "no committed event reported for order"
                            << done[i].transition.event.orderId.toString(QUuid::WithoutBraces) << "seq"
                            << done[i].transition.event.seq;
        if (done[i].done)
            done[i].done(false, done[i].transition.event);
    }
}

void Orchestrator::reject(Pending p, const StoreError &error)
{
    const OrderEvent &event = p.transition.event;
    const QUuid orderId = event.orderId;
    auto it = m_sagas.find(orderId);
    SagaState *s = it != m_sagas.end() ? it->second.get() : nullptr;
    if (s && event.seq > s->lastSeq + 1) {
        // Queued behind a refused transition of the same saga (refused with it):
        // what that refusal led to decides the saga's next transition.
        if (p.done)
            p.done(false, event);
        return;
    }
    if (s && error.kind == StoreError::Invalid) {
        if (std::optional<StoreTransition> instead = recordableInstead(*s, p.transition)) {
            qCWarning(lcEngine) << "transition" << toString(event.type) << "of order" << s->orderNumber << "seq"
                                << event.seq << "refused by the store (" << error.message << "); recording"
                                << toString(instead->event.type) << "without the refused text instead";
            s->substitutedSeq = event.seq;
            // (A step that took effect but whose result cannot be kept is reversed
            // like a call that did not answer: its STEP_FAILED owes the reversal.)
            if (p.done)
                p.done(false, event);
            enqueue(*s, std::move(*instead));
            return;
        }
    }
    // Another engine wrote this saga first (its lease is lost), or nothing it
    // could record instead was accepted either.
    if (p.transition.newOrderMayExist && error.kind == StoreError::Conflict)
        qCInfo(lcEngine) << "order" << orderId.toString(QUuid::WithoutBraces)
                         << "was placed first by another request with its Idempotency-Key; answered with that order";
    else if (!s) // dropped already, when an earlier transition of it was refused (and logged)
        qCDebug(lcEngine) << "transition of order" << orderId.toString(QUuid::WithoutBraces) << "seq" << event.seq
                          << "refused with the one before it";
    else
        qCWarning(lcEngine) << "transition of order" << orderId.toString(QUuid::WithoutBraces) << "seq" << event.seq
                            << "refused by the store; no longer driving this saga:" << error.message;
    m_sagas.erase(orderId);
    if (p.done)
        p.done(false, event);
    checkIdle();
}

// What the engine records when the store refuses a transition for what it
// carries: the text that came from outside (a step service's result or failure,
// its delivery estimate) is left out, and the saga goes on to an end its events
// explain. A forward step's outcome becomes that step's failure (STORE_REFUSED),
// so the steps before it are compensated; a completion keeps the engine's own
// details. Transitions made only of the engine's own data, and a replacement that
// is refused again, have nothing to fall back to (nullopt).
std::optional<StoreTransition> Orchestrator::recordableInstead(const SagaState &s,
                                                               const StoreTransition &refused) const
{
    const OrderEvent &e = refused.event;
    if (e.seq == s.substitutedSeq)
        return std::nullopt;
    switch (e.type) {
    case EventType::StepCompleted:
    case EventType::StepFailed: {
        if (!e.step || s.step(*e.step) != StepStatus::InProgress)
            return std::nullopt; // a compensation's outcome: the engine's own text
        QJsonObject details{{QStringLiteral("phase"), QStringLiteral("FORWARD")},
                            {QStringLiteral("retryable"), true},
                            {QStringLiteral("refusedEvent"), toString(e.type)}};
        // The step took effect (or may have): reversed first, durably (decide()).
        if (e.type == EventType::StepCompleted || e.details.value(QStringLiteral("reversalOwed")).toBool())
            details.insert(QStringLiteral("reversalOwed"), true);
        // No text of the refusal either: it may quote what was refused (the log has it).
        const QString message = QStringLiteral("The database refused to record %1's %2 (the engine's log says why)")
                                    .arg(stepDisplayName(*e.step),
                                         e.type == EventType::StepCompleted ? QStringLiteral("result")
                                                                            : QStringLiteral("failure"));
        return makeTransition(s, EventType::StepFailed, e.step, details,
                              ErrorInfo{QStringLiteral("STORE_REFUSED"), message});
    }
    case EventType::SagaCompleted: {
        if (!e.details.contains(QStringLiteral("estimatedDelivery")))
            return std::nullopt;
        QJsonObject details = e.details;
        details.remove(QStringLiteral("estimatedDelivery"));
        return makeTransition(s, EventType::SagaCompleted, std::nullopt, details);
    }
    default:
        return std::nullopt;
    }
}

void Orchestrator::databaseLost(const StoreError &error)
{
    m_available = false;
    if (!m_outageAnnounced) {
        m_outageAnnounced = true;
        m_outage = error.outage;
        m_outagesLogged = 1u << int(m_outage);
        qCWarning(lcStore) << "database unavailable, pausing sagas and retrying with backoff:" << error.message;
        Q_EMIT databaseAvailabilityChanged(false, availabilityReason(m_outage), m_outage);
    } else if (!outageChanged(error)) {
        qCDebug(lcStore) << "database still unavailable:" << error.message;
    }
    m_flushTimer.stop();
    takeBackUntaken(); // not tried: queued again, committed after the reconnect
    withdrawUntriedStarts(error);
    if (!m_reconnectTimer.isActive()) {
        m_reconnectTimer.start(m_backoffMs);
        m_backoffMs = qMin(m_backoffMs * 2, kMaxBackoffMs);
    }
}

// An order (or a retry) whose SAGA_STARTED was not tried yet is not accepted
// after all: its submitter hears now that the database is unavailable (saga-server
// answers 503) instead of waiting for the outage to end, and nothing of it is
// written later, when the client may have given up or sent it again. Starts whose
// commit was cut off (in doubt) wait for the reconnect to tell.
void Orchestrator::withdrawUntriedStarts(const StoreError &error)
{
    QSet<QUuid> starts;
    auto collect = [&](const QVector<Pending> &list, int from) {
        for (int i = from; i < list.size(); ++i) {
            if (list[i].transition.event.type == EventType::SagaStarted)
                starts.insert(list[i].transition.event.orderId);
        }
    };
    collect(m_queue, 0);
    for (const Doubtful &d : std::as_const(m_doubtful))
        collect(d.pending, d.inDoubt);
    if (starts.isEmpty())
        return;
    QVector<Pending> withdrawn;
    auto take = [&](QVector<Pending> &list, int from) {
        QVector<Pending> kept;
        for (int i = 0; i < list.size(); ++i) {
            if (i >= from && starts.contains(list[i].transition.event.orderId))
                withdrawn.append(std::move(list[i]));
            else
                kept.append(std::move(list[i]));
        }
        list = std::move(kept);
    };
    take(m_queue, 0);
    for (Doubtful &d : m_doubtful)
        take(d.pending, d.inDoubt);
    m_doubtful.erase(std::remove_if(m_doubtful.begin(), m_doubtful.end(),
                                    [](const Doubtful &d) { return d.pending.isEmpty(); }),
                     m_doubtful.end());
    qCInfo(lcEngine) << "not accepting" << starts.size() << "orders and retries not yet recorded:"
                     << "the database is unavailable";
    answerNotRecorded(withdrawn, error);
}

// `withdrawn` (SAGA_STARTEDs, and what was queued behind them) will not be
// written: their sagas are dropped and their submitters answered "unavailable".
void Orchestrator::answerNotRecorded(QVector<Pending> &withdrawn, const StoreError &why)
{
    for (const Pending &p : std::as_const(withdrawn)) {
        if (p.transition.event.type == EventType::SagaStarted)
            m_sagas.erase(p.transition.event.orderId);
    }
    m_notRecordedBecause = why.kind == StoreError::Unavailable ? why : StoreError{StoreError::Unavailable, why.message};
    for (Pending &p : withdrawn) {
        if (p.done)
            p.done(false, p.transition.event);
    }
    m_notRecordedBecause = {};
    checkIdle();
}

bool Orchestrator::outageChanged(const StoreError &e)
{
    if (!m_outageAnnounced || e.kind != StoreError::Unavailable || e.outage == StoreError::Outage::Unknown
        || e.outage == m_outage)
        return false;
    // Another kind of outage (e.g. the server is back but its disk is full): announced,
    // and logged like the first, once per kind, however often the kinds alternate.
    m_outage = e.outage;
    const unsigned bit = 1u << int(m_outage);
    if (m_outagesLogged & bit) {
        qCDebug(lcStore) << "database still unavailable, now:" << e.message;
    } else {
        m_outagesLogged |= bit;
        qCWarning(lcStore) << "database still unavailable, now:" << e.message;
    }
    Q_EMIT databaseAvailabilityChanged(false, availabilityReason(m_outage), m_outage);
    return true;
}

void Orchestrator::reconnectTick()
{
    if (!m_store || m_halted)
        return;
    auto retryLater = [this] {
        m_reconnectTimer.start(m_backoffMs);
        m_backoffMs = qMin(m_backoffMs * 2, kMaxBackoffMs);
    };
    if (anyInFlight()) {
        m_reconnectTimer.start(50); // the batches in flight report first
        return;
    }
    if (StoreError e = m_store->reconnect()) {
        if (!outageChanged(e))
            qCDebug(lcStore) << "database still unavailable:" << e.message;
        return retryLater();
    }
    if (StoreError e = reconnectCommitters()) {
        if (!outageChanged(e))
            qCDebug(lcStore) << "database still unavailable for a committer:" << e.message;
        return retryLater();
    }
    // An interrupted commit's outcome is unknown: it committed iff its first event
    // is stored (a batch is one transaction). Look everything up before changing
    // anything, so a failed lookup leaves the doubts as they were.
    QVector<QVector<OrderEvent>> committed(m_doubtful.size());
    for (int d = 0; d < m_doubtful.size(); ++d) {
        const Doubtful &doubt = m_doubtful[d];
        if (doubt.inDoubt == 0)
            continue;
        const OrderEvent &first = doubt.pending.first().transition.event;
        auto found = m_store->findEvent(first.orderId, first.seq);
        if (!found.ok())
            return retryLater();
        const bool stored = found.value && found.value->type == first.type
            && found.value->timestamp.toMSecsSinceEpoch() == first.timestamp.toMSecsSinceEpoch();
        if (!stored)
            continue;
        for (int i = 0; i < doubt.inDoubt; ++i) {
            const OrderEvent &e = doubt.pending[i].transition.event;
            auto one = m_store->findEvent(e.orderId, e.seq);
            if (!one.ok())
                return retryLater();
            committed[d].append(one.value ? *one.value : e);
        }
    }
    QVector<Doubtful> doubtful;
    doubtful.swap(m_doubtful);
    QVector<Pending> again;
    QVector<Pending> notRecorded; // orders and retries whose start was cut off, not written
    QVector<QVector<Pending>> done(doubtful.size());
    for (int d = 0; d < doubtful.size(); ++d) {
        QVector<Pending> &pending = doubtful[d].pending;
        const int n = int(committed[d].size());
        for (int i = 0; i < pending.size(); ++i) {
            if (i < n)
                done[d].append(std::move(pending[i]));
            else if (i < doubtful[d].inDoubt && pending[i].transition.event.type == EventType::SagaStarted)
                notRecorded.append(std::move(pending[i]));
            else
                again.append(std::move(pending[i]));
        }
    }
    again.append(std::move(m_queue));
    m_queue = std::move(again);
    // With nothing left to commit, a write that changes nothing tells whether the
    // database takes writes again (one that lets connections in but refuses writes
    // is still unavailable); otherwise the next commit tells (onCommitReport).
    const bool probe = m_queue.isEmpty();
    StoreError refused;
    if (probe && (refused = m_store->checkWritable()) && !outageChanged(refused))
        qCDebug(lcStore) << "database still refuses writes:" << refused.message;
    m_available = !refused;
    if (!notRecorded.isEmpty()) {
        // Not written later either: the submitter hears it was not recorded (saga-server
        // answers 503) and may send it again without making a second order.
        qCInfo(lcStore) << notRecorded.size() << "orders and retries whose recording was cut off were not recorded;"
                        << "they are not accepted";
        answerNotRecorded(notRecorded, StoreError{StoreError::Unavailable,
                                                  QStringLiteral("the database connection was lost while it was "
                                                                 "being recorded; it was not recorded")});
    }
    for (int d = 0; d < done.size(); ++d) {
        if (done[d].isEmpty())
            continue;
        qCInfo(lcStore) << "the interrupted commit of" << done[d].size() << "transitions had succeeded";
        countCommitted(int(done[d].size()));
        finishCommitted(done[d], committed[d]);
    }
    if (refused)
        return retryLater(); // (what the commits decided next waits in the queue)
    if (probe)
        databaseBack();
    scheduleFlush();
}

void Orchestrator::databaseBack()
{
    if (!m_outageAnnounced)
        return;
    m_outageAnnounced = false;
    m_outage = StoreError::Outage::Unknown;
    m_backoffMs = 100;
    qCInfo(lcStore) << "database available again, resuming" << m_sagas.size() << "sagas";
    Q_EMIT databaseAvailabilityChanged(true, QString(), StoreError::Outage::Unknown);
}

// ---- leases --------------------------------------------------------------------

void Orchestrator::leaseTick()
{
    if (!m_store || !m_available || m_halted)
        return;
    if (anyInFlight()) {
        // Renewing on this connection while a committer updates the same rows
        // could deadlock: renew when no batch is in flight (flush()).
        m_leaseDue = true;
        return;
    }
    auto renewed = m_store->renewLeases(m_engineId, qint64(m_config.leaseSeconds) * 1000);
    if (!renewed.ok() && renewed.error.kind == StoreError::Unavailable && m_store->isConnectionBroken()
        && !m_store->reconnect()) {
        // The server ended this idle connection (a restart): a new one, and again.
        renewed = m_store->renewLeases(m_engineId, qint64(m_config.leaseSeconds) * 1000);
    }
    if (!renewed.ok()) {
        if (renewed.error.kind == StoreError::Unavailable)
            databaseLost(renewed.error);
        else
            qCWarning(lcStore) << "lease renewal failed:" << renewed.error.message;
        return;
    }
    databaseBack(); // a write committed
    if (m_accepting && m_config.resumeOnStart)
        claimAndResume(false);
}

void Orchestrator::claimAndResume(bool includeOwn)
{
    for (int round = 0; round < 100; ++round) {
        auto claimed = m_store->claimSagas(m_engineId, qint64(m_config.leaseSeconds) * 1000, kClaimLimit, includeOwn);
        if (!claimed.ok()) {
            if (claimed.error.kind == StoreError::Unavailable)
                databaseLost(claimed.error);
            else
                qCWarning(lcStore) << "claiming sagas failed:" << claimed.error.message;
            return;
        }
        int fresh = 0;
        for (const ClaimedExecution &c : std::as_const(claimed.value)) {
            if (m_sagas.count(c.orderId))
                continue;
            ++fresh;
            resume(c);
        }
        if (fresh > 0)
            qCInfo(lcEngine) << "resumed" << fresh << "unfinished sagas";
        if (claimed.value.size() < kClaimLimit || includeOwn == false)
            return;
        includeOwn = false; // own leases are all taken in the first round
    }
}

void Orchestrator::resume(const ClaimedExecution &claimed)
{
    auto order = m_store->loadOrder(claimed.orderId);
    if (!order.ok()) {
        if (order.error.kind == StoreError::Unavailable)
            databaseLost(order.error);
        return;
    }
    auto events = m_store->loadEvents(claimed.orderId, 0);
    if (!events.ok()) {
        if (events.error.kind == StoreError::Unavailable)
            databaseLost(events.error);
        return;
    }
    // A history with an event this engine does not know was written by a newer
    // version (a rolling upgrade): what that event means for the next step is not
    // known here, so the saga is left to an engine that knows (its lease released;
    // said once per execution, though later claims may take it again).
    const auto unknown = std::find_if(events.value.cbegin(), events.value.cend(), [](const OrderEvent &e) {
        return e.type == EventType::Unrecognized;
    });
    if (unknown != events.value.cend()) {
        if (!m_leftToNewerEngines.contains(claimed.executionId)) {
            m_leftToNewerEngines.insert(claimed.executionId);
            qCWarning(lcEngine).noquote()
                << QStringLiteral("saga of order %1 (execution %2) not resumed: its event %3 is of type %4, which "
                                  "this version does not know; an engine of the version that wrote it will resume it")
                       .arg(claimed.orderId.toString(QUuid::WithoutBraces), claimed.executionId)
                       .arg(unknown->seq)
                       .arg(unknown->typeName);
        }
        m_store->releaseLeases(m_engineId, {claimed.executionId});
        return;
    }
    auto saga = std::make_unique<SagaState>(SagaState::fromHistory(order.value, events.value));
    if (saga->executionId != claimed.executionId || saga->isTerminal()) {
        qCWarning(lcEngine) << "claimed execution" << claimed.executionId << "does not match the order's events";
        m_store->releaseLeases(m_engineId, {claimed.executionId});
        return;
    }
    const QUuid orderId = claimed.orderId;
    m_sagas.emplace(orderId, std::move(saga));
    advance(*m_sagas[orderId]);
}

// ---- the saga state machine ----------------------------------------------------

void Orchestrator::advance(SagaState &s)
{
    if (s.awaitingCommit || s.callInFlight || m_halted)
        return;
    StoreTransition t;
    SagaStep step = SagaStep::Inventory;
    StepAction action = StepAction::Forward;
    switch (decide(s, &t, &step, &action)) {
    case Decision::Finish:
        finishSaga(s.orderId);
        return;
    case Decision::Call:
        callStep(s, step, action);
        return;
    case Decision::Transition:
        enqueue(s, std::move(t));
        return;
    }
}

Orchestrator::Decision Orchestrator::decide(const SagaState &s, StoreTransition *t, SagaStep *step,
                                            StepAction *action) const
{
    if (s.isTerminal())
        return Decision::Finish;
    auto call = [&](SagaStep st, StepAction a) {
        *step = st;
        *action = a;
        return Decision::Call;
    };
    auto transition = [&](StoreTransition next) {
        *t = std::move(next);
        return Decision::Transition;
    };
    static constexpr std::array<SagaStep, kStepCount> reverse{SagaStep::Shipping, SagaStep::Payment,
                                                              SagaStep::Inventory};
    if (s.overall == OverallStatus::RollingBack) {
        for (SagaStep st : reverse) {
            if (s.step(st) == StepStatus::Compensating)
                return call(st, StepAction::Compensate);
        }
        for (SagaStep st : reverse) {
            if (s.step(st) == StepStatus::Completed)
                return transition(makeTransition(s, EventType::CompensationStarted, st));
        }
        QJsonObject details{{QStringLiteral("failedStep"), s.failedStep ? stepDisplayName(*s.failedStep) : QString()},
                            {QStringLiteral("compensationIncomplete"), s.compensationIncomplete},
                            {QStringLiteral("failureCode"), s.failure.code}};
        const ErrorInfo error = s.compensationIncomplete ? incompleteError(s.reversalFailure) : s.failure;
        return transition(makeTransition(s, EventType::SagaFailed, std::nullopt, details, error));
    }
    if (s.failedStep) {
        if (s.reversalOwed && !s.reversalDone)
            return call(*s.reversalOwed, StepAction::Compensate); // first: the call that did not answer
        auto withReversal = [&s](QJsonObject details) { // what came of it (SagaState::settleReversal)
            if (s.reversalOwed) {
                details.insert(QStringLiteral("uncertainStep"), stepDisplayName(*s.reversalOwed));
                details.insert(QStringLiteral("uncertainStepReversed"), *s.reversalDone);
                // How many calls it took (or were made before giving up), and the last
                // failed one's answer: the history shows them, as for any compensation.
                details.insert(QStringLiteral("uncertainStepAttempts"), s.reversalAttempts);
                if (!s.reversalNote.isEmpty()) // "HTTP 404: nothing to reverse"
                    details.insert(QStringLiteral("uncertainStepAnswer"), s.reversalNote);
                if (s.reversalResumed)
                    details.insert(QStringLiteral("uncertainStepResumed"), true); // calls before a restart not counted
                if (!s.reversalLastFailure.isNull())
                    details.insert(QStringLiteral("uncertainStepFailure"),
                                   QJsonObject{{QStringLiteral("code"), s.reversalLastFailure.code},
                                               {QStringLiteral("message"), s.reversalLastFailure.message}});
            }
            return details;
        };
        const bool incomplete = s.reversalOwed && !*s.reversalDone;
        bool anyCompleted = false;
        for (StepStatus st : s.steps)
            anyCompleted = anyCompleted || st == StepStatus::Completed;
        if (anyCompleted)
            return transition(makeTransition(s, EventType::CompensationStarted, std::nullopt, withReversal({})));
        const QJsonObject details = withReversal({{QStringLiteral("failedStep"), stepDisplayName(*s.failedStep)},
                                                  {QStringLiteral("compensationIncomplete"), incomplete},
                                                  {QStringLiteral("failureCode"), s.failure.code}});
        const ErrorInfo error = incomplete ? incompleteError(s.reversalLastFailure) : s.failure;
        return transition(makeTransition(s, EventType::SagaFailed, std::nullopt, details, error));
    }
    for (SagaStep st : kAllSteps) {
        if (s.step(st) == StepStatus::InProgress)
            return call(st, StepAction::Forward);
        if (s.step(st) == StepStatus::Pending)
            return transition(makeTransition(s, EventType::StepStarted, st,
                                             {{QStringLiteral("idempotencyKey"),
                                               stepIdempotencyKey(s.executionId, st, StepAction::Forward)}}));
    }
    // Every step completed.
    const QByteArray hash = QCryptographicHash::hash((s.executionId + QStringLiteral(":confirm")).toUtf8(),
                                                     QCryptographicHash::Sha1)
                                .toHex()
                                .toUpper();
    // The payment step completed only when the service authorized the order's total
    // (or named no amount): that is what was charged (onStepResult).
    const qint64 charged = s.totalInCents;
    QJsonObject details{{QStringLiteral("confirmationNumber"), QStringLiteral("CNF-") + QString::fromLatin1(hash.left(10))},
                        {QStringLiteral("totalChargedInCents"), charged},
                        {QStringLiteral("estimatedDelivery"), s.context.value(QStringLiteral("estimatedDelivery")).toString()}};
    return transition(makeTransition(s, EventType::SagaCompleted, std::nullopt, details));
}

StepRequest Orchestrator::buildRequest(const SagaState &s, SagaStep step, StepAction action) const
{
    StepRequest r;
    r.step = step;
    r.action = action;
    r.orderId = s.orderId;
    r.executionId = s.executionId;
    r.idempotencyKey = stepIdempotencyKey(s.executionId, step, action);
    r.customerId = s.customerId;
    r.items = s.items;
    r.paymentMethodId = s.paymentMethodId;
    r.shippingAddress = s.shippingAddress;
    r.totalInCents = s.totalInCents;
    r.context = s.context;
    return r;
}

void Orchestrator::callStep(SagaState &s, SagaStep step, StepAction action)
{
    s.callInFlight = true;
    if (action == StepAction::Forward) {
        ++s.forwardCalls[size_t(step)];
        if (s.resumedStep == step && s.resumedCallAt == 0)
            s.resumedCallAt = nowMs(); // the taken-over step's work starts again here
    }
    if (action == StepAction::Compensate && s.compensationDeadline == 0)
        s.compensationDeadline = (s.compensationSince > 0 ? s.compensationSince : nowMs()) + m_config.compensationBudgetMs;
    const QUuid orderId = s.orderId;
    const QString executionId = s.executionId;
    m_client->call(buildRequest(s, step, action), [this, orderId, executionId, step, action](StepOutcome outcome) {
        onStepResult(orderId, executionId, step, action, outcome);
    });
}

void Orchestrator::onStepResult(const QUuid &orderId, const QString &executionId, SagaStep step,
                                StepAction action, const StepOutcome &outcome)
{
    auto it = m_sagas.find(orderId);
    if (it == m_sagas.end() || it->second->executionId != executionId)
        return; // no longer ours (lease lost or stopped)
    SagaState &s = *it->second;
    s.callInFlight = false;
    if (m_halted)
        return;
    if (action == StepAction::Forward) {
        // A step taken over after an interruption says so, and when its work started
        // again: its duration counts from there, not the wait for the lease.
        const auto withResumed = [&s, step](QJsonObject details) {
            if (s.resumedStep == step && s.resumedCallAt > 0) {
                details.insert(QStringLiteral("resumed"), true);
                details.insert(QStringLiteral("resumedAt"),
                               SagaJson::formatTimestamp(QDateTime::fromMSecsSinceEpoch(s.resumedCallAt, Qt::UTC)));
            }
            return details;
        };
        const QString otherAmountText = outcome.ok && step == SagaStep::Payment ? otherAmount(outcome.result, s.totalInCents)
                                                                                 : QString();
        if (outcome.ok && otherAmountText.isEmpty()) {
            StoreTransition t = makeTransition(s, EventType::StepCompleted, step, withResumed(outcome.result));
            t.stepResult = outcome.result; // the step's output only (saga_step_results.result)
            enqueue(s, std::move(t));
            return;
        }
        ErrorInfo error = outcome.error;
        // May it have taken effect? Then it is reversed (idempotent; a no-op when it
        // never happened) first, with the compensations' retries and budget, before
        // the earlier steps are (reverse order); decide() makes that call once this
        // STEP_FAILED is committed.
        bool reversalOwed = false;
        if (outcome.ok) {
            // The service authorized another amount than asked: the order is not paid
            // as placed, so the step fails; the authorization exists, so it is voided
            // first (the id it answered), then the earlier steps are compensated.
            qCWarning(lcEngine).noquote() << "order" << s.orderNumber << "payment authorized amountInCents"
                                          << otherAmountText << "instead of its total" << s.totalInCents << "(voiding the authorization)";
            error = ErrorInfo{
                QStringLiteral("PAYMENT_AMOUNT_MISMATCH"),
                SagaJson::storableText(QStringLiteral("The payment service authorized %1 cents instead of the order's total "
                                                      "of %2 cents; the authorization is voided.")
                                           .arg(otherAmountText)
                                           .arg(s.totalInCents),
                                       1000)};
            reversalOwed = true;
        } else {
            qCDebug(lcEngine) << "order" << s.orderNumber << stepDisplayName(step) << "failed:" << error.code
                             << (outcome.injected ? "(injected)" : "");
            // A call that provably never reached the service (refused; and the only call
            // of the step) did nothing: there is nothing to reverse. One that did not
            // answer may have taken effect.
            const bool notMade = outcome.notSent && s.forwardCalls[size_t(step)] == 1;
            reversalOwed = uncertainForwardFailure(error.code) && !notMade;
        }
        const FailureInfo info = failureInfo(error.code);
        QJsonObject details{{QStringLiteral("phase"), QStringLiteral("FORWARD")},
                            {QStringLiteral("retryable"), info.retryable}};
        if (outcome.injected)
            details.insert(QStringLiteral("injected"), true);
        if (!info.suggestedAction.isEmpty())
            details.insert(QStringLiteral("suggestedAction"), info.suggestedAction);
        if (reversalOwed)
            details.insert(QStringLiteral("reversalOwed"), true);
        if (outcome.ok)
            details.insert(QStringLiteral("answered"), outcome.result); // what the authorization said
        enqueue(s, makeTransition(s, EventType::StepFailed, step, withResumed(details), error));
        return;
    }
    // Compensation.
    const bool owedReversal = s.reversalOwed == step && s.step(step) == StepStatus::Failed && !s.reversalDone;
    // Its budget is spent, after `failed` failed calls: see kMinResumedCompensationAttempts.
    const auto budgetSpent = [&s, now = nowMs()](int failed) {
        return s.compensationDeadline - now <= 0 && (!s.compensationResumed || failed >= kMinResumedCompensationAttempts);
    };
    if (owedReversal && (outcome.ok || budgetSpent(s.compensationAttempts + 1))) {
        // Settled: the next event records how (SagaState::settleReversal).
        s.reversalDone = outcome.ok;
        s.reversalAttempts = s.compensationAttempts + 1;
        s.reversalResumed = s.compensationResumed;
        s.reversalLastFailure = outcome.ok ? s.compensationLastFailure : outcome.error;
        s.reversalNote = outcome.ok ? outcome.note : QString();
        if (!outcome.ok)
            qCWarning(lcEngine) << "reversing the failed" << stepDisplayName(step) << "call of order" << s.orderNumber
                                << "gave up after" << s.compensationAttempts + 1 << "attempts:" << outcome.error.code
                                << outcome.error.message;
        s.resetCompensationAttempts();
        advance(s);
        return;
    }
    if (outcome.ok) {
        QJsonObject details;
        if (s.compensationAttempts > 0) {
            // It took more than one call: what the failed ones answered stays on record
            // (an injected compensation failure that fired once is seen, not hidden).
            QJsonObject last{{QStringLiteral("code"), s.compensationLastFailure.code},
                             {QStringLiteral("message"), s.compensationLastFailure.message}};
            if (s.compensationLastInjected)
                last.insert(QStringLiteral("injected"), true);
            details.insert(QStringLiteral("failedAttempts"), s.compensationAttempts);
            details.insert(QStringLiteral("lastFailure"), last);
        }
        if (s.compensationResumed)
            details.insert(QStringLiteral("resumed"), true); // attempts before the restart are not counted
        if (!outcome.note.isEmpty())
            details.insert(QStringLiteral("answer"), outcome.note); // "HTTP 404: nothing to reverse"
        enqueue(s, makeTransition(s, EventType::StepCompensated, step, details));
        return;
    }
    ++s.compensationAttempts;
    s.compensationLastFailure = outcome.error;
    s.compensationLastInjected = outcome.injected;
    if (!budgetSpent(s.compensationAttempts)) {
        const qint64 remaining = s.compensationDeadline - nowMs();
        const int backoff = qMin(kMaxBackoffMs, 100 << qMin(s.compensationAttempts, 6));
        const int delay = int(remaining > 0 ? qMin<qint64>(remaining, backoff) : backoff);
        qCDebug(lcEngine) << "compensation of" << stepDisplayName(step) << "for" << s.orderNumber << "failed ("
                          << outcome.error.code << "), retrying in" << delay << "ms";
        s.callInFlight = true; // the retry timer holds the saga
        QTimer::singleShot(delay, this, [this, orderId, executionId, step] {
            auto it = m_sagas.find(orderId);
            if (it == m_sagas.end() || it->second->executionId != executionId || m_halted)
                return;
            it->second->callInFlight = false;
            callStep(*it->second, step, StepAction::Compensate);
        });
        return;
    }
    qCWarning(lcEngine) << "compensation of" << stepDisplayName(step) << "for order" << s.orderNumber << "gave up after"
                        << s.compensationAttempts << "attempts:" << outcome.error.code << outcome.error.message;
    QJsonObject details{{QStringLiteral("phase"), QStringLiteral("COMPENSATION")},
                        {QStringLiteral("retryable"), false},
                        {QStringLiteral("attempts"), s.compensationAttempts}};
    if (s.compensationResumed)
        details.insert(QStringLiteral("resumed"), true); // attempts before the restart are not counted
    if (outcome.injected)
        details.insert(QStringLiteral("injected"), true);
    // The step's own answer is kept after the fixed words ("compensation incomplete: The
    // compensation failed (injected)."), so an injected failure reads as one.
    enqueue(s, makeTransition(s, EventType::StepFailed, step, details, incompleteError(outcome.error)));
}

void Orchestrator::finishSaga(const QUuid &orderId)
{
    m_sagas.erase(orderId);
    checkIdle();
}

void Orchestrator::checkIdle()
{
    if (m_sagas.empty() && m_queue.isEmpty()) {
        Q_EMIT idle();
        if (m_shutdownDone)
            QTimer::singleShot(0, this, &Orchestrator::finishShutdown);
    }
}

// ---- shutdown ----------------------------------------------------------------

void Orchestrator::shutdown(int graceMs, std::function<void()> done)
{
    m_accepting = false;
    m_shutdownDone = std::move(done);
    if (m_sagas.empty() && m_queue.isEmpty()) {
        finishShutdown();
        return;
    }
    m_graceTimer.start(qMax(0, graceMs));
}

void Orchestrator::finishShutdown()
{
    stop();
    if (m_shutdownDone) {
        auto done = std::move(m_shutdownDone);
        m_shutdownDone = nullptr;
        done();
    }
}

void Orchestrator::stop()
{
    if (m_halted)
        return;
    m_accepting = false;
    // Commit what is already decided (if the database is there), then stop driving.
    waitForCommit();
    for (int i = 0; i < 8 && !m_committers.empty() && m_available && !m_queue.isEmpty(); ++i) {
        flush();
        waitForCommit();
    }
    m_halted = true;
    waitForCommit(); // a batch the last report sent on
    if (m_batches > 0)
        qCInfo(lcEngine) << "committed" << m_transitions << "transitions in" << m_batches << "batches;"
                         << m_commitMicros / 1000 << "ms in" << m_committers.size() << "committer(s)";
    m_flushTimer.stop();
    m_leaseTimer.stop();
    m_reconnectTimer.stop();
    m_graceTimer.stop();
    if (m_store && m_store->isOpen()) {
        QStringList unfinished;
        for (const auto &entry : m_sagas)
            unfinished << entry.second->executionId;
        if (!unfinished.isEmpty()) {
            qCInfo(lcEngine) << "releasing the leases of" << unfinished.size() << "unfinished sagas";
            m_store->releaseLeases(m_engineId, unfinished);
        }
    }
    QVector<Pending> unanswered;
    for (Doubtful &d : m_doubtful)
        unanswered.append(std::move(d.pending));
    m_doubtful.clear();
    unanswered.append(std::move(m_queue));
    m_queue.clear();
    for (Pending &p : unanswered) {
        if (p.done)
            p.done(false, p.transition.event); // the caller learns it was not recorded
    }
    stopCommitters();
    m_handedOff.clear();
    m_frontTicket = m_nextTicket;
    m_sagas.clear();
    m_client.reset();
    m_store.reset();
}
