#include "orderprogress.h"

#include "sagalog.h"

// The fold. Every applyOne() first validates the whole event against the current
// state (read only) and only then mutates, so a rejected event leaves the state
// exactly as it was. The hot path allocates nothing: statuses are enums, times are
// QDateTime values (UTC, stored inline) and strings are shared with the event.

namespace {

QLatin1String key(const char *k)
{
    return QLatin1String(k);
}

template<typename T>
bool assignIfChanged(T &field, const T &value)
{
    if (field == value)
        return false;
    field = value;
    return true;
}

QString describe(const OrderEvent &e)
{
    QString s = QStringLiteral("seq %1 %2").arg(e.seq).arg(eventTypeName(e));
    if (e.step)
        s += QLatin1Char(' ') + stepDisplayName(*e.step);
    return s;
}

QString illegalStep(const OrderEvent &e, SagaStep step, StepStatus from, StepStatus to)
{
    return QStringLiteral("%1: illegal step transition %2 %3 -> %4")
        .arg(describe(e), stepDisplayName(step), toString(from), toString(to));
}

QString illegalOverall(const OrderEvent &e, OverallStatus from, OverallStatus to)
{
    return QStringLiteral("%1: illegal overall transition %2 -> %3")
        .arg(describe(e), toString(from), toString(to));
}

FoldResult rejected(QString error)
{
    FoldResult r;
    r.outcome = FoldResult::Rejected;
    r.error = std::move(error);
    r.applied = 0;
    return r;
}

bool isCompensationPhase(const QJsonObject &details)
{
    // One small allocation (QJsonValue has no string view in Qt 6.4); only on STEP_FAILED.
    const QJsonValue phase = details.value(key("phase"));
    return phase.isString() && phase.toString() == QLatin1String("COMPENSATION");
}

// The resumed attempt's start recorded on a step's forward end (resumedAttemptStart),
// if it lies within the step (not before its STEP_STARTED); null otherwise.
QDateTime resumedStart(const StepProgress &step, const OrderEvent &e)
{
    if (!e.details.contains(key("resumedAt")))
        return {}; // the usual case: nothing parsed, nothing allocated
    QDateTime at = resumedAttemptStart(e);
    if (at.isValid() && step.startedAt.isValid() && at < step.startedAt)
        return {};
    return at;
}

} // namespace

OrderProgress::OrderProgress()
{
    for (SagaStep s : kAllSteps)
        steps[size_t(s)].step = s;
}

OrderProgress::OrderProgress(const QUuid &id) : OrderProgress()
{
    orderId = id;
}

OrderProgress::OrderProgress(const OrderProgress &other)
    : orderId(other.orderId),
      orderNumber(other.orderNumber),
      customerId(other.customerId),
      traceId(other.traceId),
      overallStatus(other.overallStatus),
      currentStep(other.currentStep),
      steps(other.steps),
      createdAt(other.createdAt),
      lastUpdated(other.lastUpdated),
      estimatedCompletion(other.estimatedCompletion),
      lastSeq(other.lastSeq),
      attemptNumber(other.attemptNumber),
      compensationIncomplete(other.compensationIncomplete),
      failure(other.failure),
      failedStep(other.failedStep),
      confirmationNumber(other.confirmationNumber),
      totalChargedInCents(other.totalChargedInCents)
{
    if (other.m_buffer)
        m_buffer = std::make_unique<std::map<qint64, OrderEvent>>(*other.m_buffer);
}

OrderProgress &OrderProgress::operator=(const OrderProgress &other)
{
    if (this != &other) {
        OrderProgress copy(other);
        *this = std::move(copy);
    }
    return *this;
}

OrderProgress::~OrderProgress() = default;

int OrderProgress::completedStepCount() const
{
    int n = 0;
    for (const StepProgress &s : steps)
        n += s.status == StepStatus::Completed ? 1 : 0;
    return n;
}

// Terminal orders are 100 %. Otherwise each step that reached a final state
// (COMPLETED, FAILED, COMPENSATED, SKIPPED) counts one third; while rolling back a
// COMPLETED step still has work left (its compensation) and counts nothing.
int OrderProgress::progressPercent() const
{
    if (isTerminal())
        return 100;
    int done = 0;
    for (const StepProgress &s : steps) {
        if (s.status == StepStatus::Completed)
            done += overallStatus == OverallStatus::RollingBack ? 0 : 1;
        else if (::isTerminal(s.status))
            done += 1;
    }
    return (done * 100 + kStepCount / 2) / kStepCount;
}

int OrderProgress::bufferedCount() const
{
    return m_buffer ? int(m_buffer->size()) : 0;
}

bool OrderProgress::operator==(const OrderProgress &o) const
{
    return orderId == o.orderId && orderNumber == o.orderNumber && customerId == o.customerId
           && traceId == o.traceId && overallStatus == o.overallStatus
           && currentStep == o.currentStep && steps == o.steps && createdAt == o.createdAt
           && lastUpdated == o.lastUpdated && estimatedCompletion == o.estimatedCompletion
           && lastSeq == o.lastSeq && attemptNumber == o.attemptNumber
           && compensationIncomplete == o.compensationIncomplete && failure == o.failure
           && failedStep == o.failedStep && confirmationNumber == o.confirmationNumber
           && totalChargedInCents == o.totalChargedInCents;
}

FoldResult OrderProgress::apply(const OrderEvent &event)
{
    // A default-constructed progress adopts the order id of its first event.
    const bool adopt = orderId.isNull() && lastSeq == 0 && !m_buffer;
    if (!adopt && event.orderId != orderId) {
        return rejected(QStringLiteral("%1: event for order %2 applied to order %3")
                            .arg(describe(event), event.orderId.toString(QUuid::WithoutBraces),
                                 orderId.toString(QUuid::WithoutBraces)));
    }
    if (event.seq < 1)
        return rejected(QStringLiteral("%1: seq must be 1 or more").arg(describe(event)));

    FoldResult result;
    if (event.seq <= lastSeq) {
        result.outcome = FoldResult::Duplicate;
        return result;
    }
    if (event.seq > lastSeq + 1) {
        if (m_buffer && m_buffer->count(event.seq)) {
            result.outcome = FoldResult::Duplicate;
            return result;
        }
        if (bufferedCount() >= kMaxBuffered) {
            return rejected(QStringLiteral("%1: %2 events already wait for seq %3; gap buffer full")
                                .arg(describe(event))
                                .arg(bufferedCount())
                                .arg(lastSeq + 1));
        }
        if (!m_buffer)
            m_buffer = std::make_unique<std::map<qint64, OrderEvent>>();
        m_buffer->emplace(event.seq, event);
        if (adopt)
            orderId = event.orderId;
        result.outcome = FoldResult::Buffered;
        return result;
    }

    result = applyOne(event);
    if (result.outcome != FoldResult::Applied)
        return result;
    if (adopt)
        orderId = event.orderId;

    // Drain what the gap held back.
    while (m_buffer && !m_buffer->empty()) {
        auto it = m_buffer->begin();
        if (it->first != lastSeq + 1)
            break;
        const OrderEvent next = std::move(it->second);
        m_buffer->erase(it);
        FoldResult drained = applyOne(next);
        if (drained.outcome != FoldResult::Applied) {
            // The held event is illegal: drop it; the order waits for a corrected seq.
            qCWarning(lcModel) << "dropping buffered event:" << drained.error;
            result.error = drained.error;
            break;
        }
        result.applied += drained.applied;
        result.changes.merge(drained.changes);
    }
    if (m_buffer && m_buffer->empty())
        m_buffer.reset();
    return result;
}

FoldResult OrderProgress::applyOne(const OrderEvent &e)
{
    if (!e.timestamp.isValid())
        return rejected(QStringLiteral("%1: timestamp is missing or invalid").arg(describe(e)));

    FoldResult result;
    result.applied = 1;
    ChangeSet &changes = result.changes;

    const auto needStep = [&]() -> QString {
        return e.step ? QString()
                      : QStringLiteral("%1: stepName is required").arg(describe(e));
    };
    const auto setStatus = [&](SagaStep s, StepStatus to) {
        StepProgress &sp = steps[size_t(s)];
        if (sp.status != to) {
            sp.status = to;
            changes.steps[size_t(s)] |= ChangeSet::StepStatusField;
        }
    };
    const auto setOverall = [&](OverallStatus to) {
        if (overallStatus != to) {
            overallStatus = to;
            changes.order |= ChangeSet::Overall;
        }
    };
    const auto setCurrent = [&](std::optional<SagaStep> s) {
        if (currentStep != s) {
            currentStep = s;
            changes.order |= ChangeSet::CurrentStep;
        }
    };
    // Overall must be `to` already, or legally move there.
    const auto overallCanBe = [&](OverallStatus to) {
        return overallStatus == to || isLegalTransition(overallStatus, to);
    };

    switch (e.type) {
    case EventType::SagaStarted: {
        const QJsonValue attemptValue = e.details.value(key("attemptNumber"));
        const int attempt = attemptValue.isDouble() ? attemptValue.toInt(1) : 1;
        const bool fresh = lastSeq == 0;
        if (!fresh) {
            if (attempt <= 1) {
                return rejected(QStringLiteral("%1: the saga already started (overall %2); a retry "
                                               "needs details.attemptNumber > 1")
                                    .arg(describe(e), toString(overallStatus)));
            }
            if (!isLegalTransition(overallStatus, OverallStatus::Queued))
                return rejected(illegalOverall(e, overallStatus, OverallStatus::Queued));
            if (attempt <= attemptNumber) {
                return rejected(QStringLiteral("%1: retry attemptNumber %2 is not after attempt %3")
                                    .arg(describe(e))
                                    .arg(attempt)
                                    .arg(attemptNumber));
            }
            // Retry: everything that did not stay done runs again.
            for (StepProgress &sp : steps) {
                if (sp.status == StepStatus::Failed || sp.status == StepStatus::Compensated
                    || sp.status == StepStatus::Skipped) {
                    quint32 &c = changes.steps[size_t(sp.step)];
                    sp.status = StepStatus::Pending;
                    c |= ChangeSet::StepStatusField;
                    if (!sp.startedAt.isNull()) {
                        sp.startedAt = QDateTime();
                        c |= ChangeSet::StepStarted;
                    }
                    if (!sp.completedAt.isNull()) {
                        sp.completedAt = QDateTime();
                        c |= ChangeSet::StepCompleted;
                    }
                    if (!sp.resumedAt.isNull()) {
                        sp.resumedAt = QDateTime();
                        c |= ChangeSet::StepCompleted;
                    }
                    if (!sp.errorCode.isNull() || !sp.errorMessage.isNull()) {
                        sp.errorCode = QString();
                        sp.errorMessage = QString();
                        c |= ChangeSet::StepError;
                    }
                }
            }
            bool outcome = false;
            if (!failure.isNull()) {
                failure = ErrorInfo();
                outcome = true;
            }
            outcome |= assignIfChanged(failedStep, std::optional<SagaStep>());
            outcome |= assignIfChanged(compensationIncomplete, false);
            outcome |= assignIfChanged(confirmationNumber, QString());
            outcome |= assignIfChanged(totalChargedInCents, qint64(-1));
            if (outcome)
                changes.order |= ChangeSet::Outcome;
            setOverall(OverallStatus::Queued);
            setCurrent(std::nullopt);
        }
        bool meta = false;
        const QJsonValue number = e.details.value(key("orderNumber"));
        if (number.isString())
            meta |= assignIfChanged(orderNumber, number.toString());
        const QJsonValue customer = e.details.value(key("customerId"));
        if (customer.isString()) {
            const QUuid id = QUuid::fromString(customer.toString());
            if (!id.isNull())
                meta |= assignIfChanged(customerId, id);
        }
        const QJsonValue trace = e.details.value(key("traceId"));
        if (trace.isString())
            meta |= assignIfChanged(traceId, trace.toString());
        meta |= assignIfChanged(attemptNumber, fresh ? qMax(1, attempt) : attempt);
        if (createdAt.isNull()) {
            createdAt = e.timestamp;
            meta = true;
        }
        if (meta)
            changes.order |= ChangeSet::Meta;
        break;
    }
    case EventType::StepStarted: {
        if (QString err = needStep(); !err.isEmpty())
            return rejected(err);
        const SagaStep s = *e.step;
        const StepProgress &sp = steps[size_t(s)];
        if (!isLegalTransition(sp.status, StepStatus::InProgress))
            return rejected(illegalStep(e, s, sp.status, StepStatus::InProgress));
        if (!overallCanBe(OverallStatus::InProgress))
            return rejected(illegalOverall(e, overallStatus, OverallStatus::InProgress));
        for (int i = 0; i < int(s); ++i) {
            if (steps[size_t(i)].status != StepStatus::Completed) {
                return rejected(QStringLiteral("%1: %2 is %3, it must be COMPLETED first")
                                    .arg(describe(e), stepDisplayName(SagaStep(i)),
                                         toString(steps[size_t(i)].status)));
            }
        }
        setStatus(s, StepStatus::InProgress);
        StepProgress &m = steps[size_t(s)];
        if (assignIfChanged(m.startedAt, e.timestamp))
            changes.steps[size_t(s)] |= ChangeSet::StepStarted;
        if (!m.completedAt.isNull()) {
            m.completedAt = QDateTime();
            changes.steps[size_t(s)] |= ChangeSet::StepCompleted;
        }
        if (!m.resumedAt.isNull()) {
            m.resumedAt = QDateTime();
            changes.steps[size_t(s)] |= ChangeSet::StepCompleted;
        }
        setOverall(OverallStatus::InProgress);
        setCurrent(s);
        break;
    }
    case EventType::StepCompleted: {
        if (QString err = needStep(); !err.isEmpty())
            return rejected(err);
        const SagaStep s = *e.step;
        const StepProgress &sp = steps[size_t(s)];
        if (!isLegalTransition(sp.status, StepStatus::Completed))
            return rejected(illegalStep(e, s, sp.status, StepStatus::Completed));
        setStatus(s, StepStatus::Completed);
        if (assignIfChanged(steps[size_t(s)].completedAt, e.timestamp))
            changes.steps[size_t(s)] |= ChangeSet::StepCompleted;
        if (assignIfChanged(steps[size_t(s)].resumedAt, resumedStart(steps[size_t(s)], e)))
            changes.steps[size_t(s)] |= ChangeSet::StepCompleted;
        setCurrent(std::nullopt);
        break;
    }
    case EventType::StepFailed: {
        if (QString err = needStep(); !err.isEmpty())
            return rejected(err);
        const SagaStep s = *e.step;
        const StepProgress &sp = steps[size_t(s)];
        const bool compensation = isCompensationPhase(e.details);
        if (!isLegalTransition(sp.status, StepStatus::Failed)
            || (compensation != (sp.status == StepStatus::Compensating))) {
            QString err = illegalStep(e, s, sp.status, StepStatus::Failed);
            if (isLegalTransition(sp.status, StepStatus::Failed))
                err += compensation ? QStringLiteral(" (phase COMPENSATION needs a COMPENSATING step)")
                                    : QStringLiteral(" (a COMPENSATING step fails with phase COMPENSATION)");
            return rejected(err);
        }
        const bool reversing = !compensation && e.details.value(key("reversalOwed")).toBool(false);
        if (reversing && !overallCanBe(OverallStatus::RollingBack))
            return rejected(illegalOverall(e, overallStatus, OverallStatus::RollingBack));
        setStatus(s, StepStatus::Failed);
        StepProgress &m = steps[size_t(s)];
        bool errorChanged = assignIfChanged(m.errorCode, e.error.code);
        errorChanged |= assignIfChanged(m.errorMessage, e.error.message);
        if (errorChanged)
            changes.steps[size_t(s)] |= ChangeSet::StepError;
        if (compensation) {
            if (assignIfChanged(compensationIncomplete, true))
                changes.order |= ChangeSet::Outcome;
        } else {
            if (assignIfChanged(m.completedAt, e.timestamp))
                changes.steps[size_t(s)] |= ChangeSet::StepCompleted;
            if (assignIfChanged(m.resumedAt, resumedStart(m, e)))
                changes.steps[size_t(s)] |= ChangeSet::StepCompleted;
            for (int i = int(s) + 1; i < kStepCount; ++i) {
                if (steps[size_t(i)].status == StepStatus::Pending)
                    setStatus(SagaStep(i), StepStatus::Skipped);
            }
            bool outcome = false;
            if (failure != e.error) {
                failure = e.error;
                outcome = true;
            }
            outcome |= assignIfChanged(failedStep, std::optional<SagaStep>(s));
            if (outcome)
                changes.order |= ChangeSet::Outcome;
            if (reversing) {
                // The call did not answer and may have taken effect: it is reversed
                // now (the rollback's COMPENSATION_STARTED, or SAGA_FAILED, says how
                // that went). The saga is rolling back from here, at this step.
                setOverall(OverallStatus::RollingBack);
                setCurrent(s);
                break;
            }
        }
        setCurrent(std::nullopt);
        break;
    }
    case EventType::CompensationStarted: {
        if (!e.step) {
            // Or already ROLLING_BACK at a failed step: the reversal of its call, which
            // did not answer, came first (see STEP_FAILED).
            const bool afterReversal = overallStatus == OverallStatus::RollingBack && currentStep
                && currentStep == failedStep && steps[size_t(*currentStep)].status == StepStatus::Failed;
            if (!afterReversal && !isLegalTransition(overallStatus, OverallStatus::RollingBack))
                return rejected(illegalOverall(e, overallStatus, OverallStatus::RollingBack));
            setOverall(OverallStatus::RollingBack);
            setCurrent(std::nullopt);
            break;
        }
        const SagaStep s = *e.step;
        const StepProgress &sp = steps[size_t(s)];
        if (!isLegalTransition(sp.status, StepStatus::Compensating))
            return rejected(illegalStep(e, s, sp.status, StepStatus::Compensating));
        if (!overallCanBe(OverallStatus::RollingBack))
            return rejected(illegalOverall(e, overallStatus, OverallStatus::RollingBack));
        setStatus(s, StepStatus::Compensating);
        setOverall(OverallStatus::RollingBack);
        setCurrent(s);
        break;
    }
    case EventType::StepCompensated: {
        if (QString err = needStep(); !err.isEmpty())
            return rejected(err);
        const SagaStep s = *e.step;
        const StepProgress &sp = steps[size_t(s)];
        if (!isLegalTransition(sp.status, StepStatus::Compensated))
            return rejected(illegalStep(e, s, sp.status, StepStatus::Compensated));
        setStatus(s, StepStatus::Compensated);
        if (currentStep == s)
            setCurrent(std::nullopt);
        break;
    }
    case EventType::SagaCompleted: {
        if (!isLegalTransition(overallStatus, OverallStatus::Completed))
            return rejected(illegalOverall(e, overallStatus, OverallStatus::Completed));
        for (const StepProgress &sp : steps) {
            if (sp.status != StepStatus::Completed) {
                return rejected(QStringLiteral("%1: %2 is %3, every step must be COMPLETED")
                                    .arg(describe(e), sp.name(), toString(sp.status)));
            }
        }
        setOverall(OverallStatus::Completed);
        setCurrent(std::nullopt);
        bool outcome = false;
        const QJsonValue confirmation = e.details.value(key("confirmationNumber"));
        if (confirmation.isString())
            outcome |= assignIfChanged(confirmationNumber, confirmation.toString());
        const QJsonValue charged = e.details.value(key("totalChargedInCents"));
        if (charged.isDouble())
            outcome |= assignIfChanged(totalChargedInCents, charged.toInteger(-1));
        if (outcome)
            changes.order |= ChangeSet::Outcome;
        break;
    }
    case EventType::SagaFailed: {
        const bool incomplete =
            compensationIncomplete || e.details.value(key("compensationIncomplete")).toBool(false);
        bool anyCompensated = false;
        bool anyUncompensated = false;
        for (const StepProgress &sp : steps) {
            if (sp.status == StepStatus::InProgress) {
                return rejected(QStringLiteral("%1: %2 is still IN_PROGRESS")
                                    .arg(describe(e), sp.name()));
            }
            if (sp.status == StepStatus::Compensating && !incomplete) {
                return rejected(QStringLiteral("%1: %2 is still COMPENSATING")
                                    .arg(describe(e), sp.name()));
            }
            anyCompensated |= sp.status == StepStatus::Compensated;
            anyUncompensated |= sp.status == StepStatus::Completed
                                || sp.status == StepStatus::Compensating;
        }
        const OverallStatus target = (anyCompensated && !anyUncompensated && !incomplete)
                                         ? OverallStatus::RolledBack
                                         : OverallStatus::Failed;
        if (!isLegalTransition(overallStatus, target))
            return rejected(illegalOverall(e, overallStatus, target));
        for (int i = 0; i < kStepCount; ++i) {
            if (steps[size_t(i)].status == StepStatus::Pending)
                setStatus(SagaStep(i), StepStatus::Skipped);
        }
        setOverall(target);
        setCurrent(std::nullopt);
        bool outcome = assignIfChanged(compensationIncomplete, incomplete);
        if (failure.isNull() && !e.error.isNull()) {
            failure = e.error;
            outcome = true;
        }
        if (!failedStep) {
            const QJsonValue fs = e.details.value(key("failedStep"));
            if (fs.isString()) {
                if (const auto s = stepFromName(fs.toString())) {
                    failedStep = s;
                    outcome = true;
                }
            }
        }
        if (outcome)
            changes.order |= ChangeSet::Outcome;
        break;
    }
    case EventType::Unrecognized:
        // Its meaning is unknown here: it takes its seq (the order's later events
        // follow it) and the time it happened, nothing else.
        break;
    }

    if (assignIfChanged(lastUpdated, e.timestamp))
        changes.order |= ChangeSet::LastUpdated;
    lastSeq = e.seq;
    return result;
}
