#include "orderhistory.h"

#include "failurecatalog.h"
#include "orderprogress.h"
#include "sagalog.h"

#include <algorithm>

// The history is derived by folding the events with OrderProgress (the same fold
// every reader uses), so what the timeline says matches the status exactly.

namespace {

constexpr const char *kTimelineNames[] = {"SUCCESS", "FAILED", "COMPENSATED", "SKIPPED", "NEUTRAL"};

QString shortName(SagaStep step)
{
    switch (step) {
    case SagaStep::Inventory:
        return QStringLiteral("Inventory");
    case SagaStep::Payment:
        return QStringLiteral("Payment");
    case SagaStep::Shipping:
        return QStringLiteral("Shipping");
    }
    return {};
}

QString completedTitle(SagaStep step)
{
    switch (step) {
    case SagaStep::Inventory:
        return QStringLiteral("Inventory Reserved");
    case SagaStep::Payment:
        return QStringLiteral("Payment Processed");
    case SagaStep::Shipping:
        return QStringLiteral("Shipping Arranged");
    }
    return {};
}

QString completedDescription(SagaStep step)
{
    switch (step) {
    case SagaStep::Inventory:
        return QStringLiteral("The items in your order have been reserved for you.");
    case SagaStep::Payment:
        return QStringLiteral("Your payment has been processed.");
    case SagaStep::Shipping:
        return QStringLiteral("Shipping for your order has been arranged.");
    }
    return {};
}

QString compensatedTitle(SagaStep step)
{
    switch (step) {
    case SagaStep::Inventory:
        return QStringLiteral("Inventory Released");
    case SagaStep::Payment:
        return QStringLiteral("Payment Voided");
    case SagaStep::Shipping:
        return QStringLiteral("Shipment Cancelled");
    }
    return {};
}

QString compensatedDescription(SagaStep step)
{
    switch (step) {
    case SagaStep::Inventory:
        return QStringLiteral("The items reserved for your order have been released.");
    case SagaStep::Payment:
        return QStringLiteral("Your payment has been voided; you have not been charged.");
    case SagaStep::Shipping:
        return QStringLiteral("The shipment for your order has been cancelled.");
    }
    return {};
}

QString compensationFailedTitle(SagaStep step)
{
    switch (step) {
    case SagaStep::Inventory:
        return QStringLiteral("Inventory Release Failed");
    case SagaStep::Payment:
        return QStringLiteral("Payment Void Failed");
    case SagaStep::Shipping:
        return QStringLiteral("Shipment Cancellation Failed");
    }
    return {};
}

// A reversal finished by an engine that took it over after an interruption (a
// restart), at its first call: the calls made before are not counted.
QString resumedReversal()
{
    return QStringLiteral("It was completed after an interruption.");
}

TimelineError timelineError(const ErrorInfo &error, const QString &fallbackCode)
{
    TimelineError e;
    e.code = error.code.isEmpty() ? fallbackCode : error.code;
    const FailureInfo info = failureInfo(e.code);
    e.message = error.message.isEmpty() ? info.customerMessage : error.message;
    e.suggestedAction = info.suggestedAction;
    return e;
}

// The line for the reversal of a forward call that did not answer, or whose answer
// could not be accepted (`failureCode`: PAYMENT_AMOUNT_MISMATCH), from the event's
// uncertainStep, uncertainStepReversed, uncertainStepAttempts, uncertainStepFailure;
// or nothing when the event records none.
std::optional<TimelineEntry> uncertainReversal(const OrderEvent &e, const QString &failureCode)
{
    const std::optional<SagaStep> step = stepFromName(e.details.value(QLatin1String("uncertainStep")).toString());
    const QJsonValue reversed = e.details.value(QLatin1String("uncertainStepReversed"));
    if (!step || !reversed.isBool())
        return std::nullopt;
    TimelineEntry entry;
    entry.timestamp = e.timestamp;
    entry.step = step;
    const int attempts = e.details.value(QLatin1String("uncertainStepAttempts")).toInt();
    // Resumed after a restart: calls made before it are not counted.
    const QString atLeast = e.details.value(QLatin1String("uncertainStepResumed")).toBool() ? QStringLiteral("at least ")
                                                                                          : QString();
    const QJsonObject last = e.details.value(QLatin1String("uncertainStepFailure")).toObject();
    const bool wrongAmount = failureCode == QLatin1String("PAYMENT_AMOUNT_MISMATCH");
    const QString why = wrongAmount
        ? QStringLiteral("The payment service authorized a different amount than your order's total")
        : QStringLiteral("We did not hear back about %1, so it may have gone through").arg(stepDisplayName(*step));
    if (reversed.toBool()) {
        entry.title = compensatedTitle(*step);
        entry.status = TimelineStatus::Compensated;
        entry.description = why + (wrongAmount ? QStringLiteral(". ") : QStringLiteral("; to be sure, it has been reversed. "))
            + compensatedDescription(*step);
        if (attempts > 1) {
            entry.description += QStringLiteral(" This took %1%2 attempts.").arg(atLeast).arg(attempts);
            entry.error = TimelineError{last.value(QLatin1String("code")).toString(),
                                        last.value(QLatin1String("message")).toString(), QString()};
        } else if (!atLeast.isEmpty()) {
            entry.description += QLatin1Char(' ') + resumedReversal();
        }
    } else {
        entry.title = compensationFailedTitle(*step);
        entry.status = TimelineStatus::Failed;
        entry.description = why + QStringLiteral(", and we could not reverse it automatically");
        if (attempts > 0)
            entry.description += QStringLiteral(" (%1%2 attempts)").arg(atLeast).arg(attempts);
        entry.description += QStringLiteral(". Customer support has been notified.");
        // As for any compensation that gave up: COMPENSATION_FAILED (support acts, a
        // retry cannot), with the service's last answer after the fixed words.
        const QString answer = last.value(QLatin1String("message")).toString();
        entry.error = timelineError(ErrorInfo{QStringLiteral("COMPENSATION_FAILED"),
                                              answer.isEmpty() ? QStringLiteral("compensation incomplete")
                                                               : QStringLiteral("compensation incomplete: ") + answer},
                                    QString());
    }
    return entry;
}

// A failure's advice once the history shows that no retry can follow it, as the
// order's own answer says it (RetryPolicy::failureAdvice): its attempt's compensation
// ended incomplete (support acts), or it failed the last allowed attempt (retries
// used up; a code that is never retryable keeps its own advice, which names support).
void adviseNoRetry(TimelineError *error, bool compensationIncomplete, bool lastAttempt)
{
    if (compensationIncomplete)
        error->suggestedAction = failureInfo(QStringLiteral("COMPENSATION_FAILED")).suggestedAction;
    else if (lastAttempt && failureInfo(error->code).retryable)
        error->suggestedAction = retriesUsedUpAction();
}

QString friendlyFailure(const ErrorInfo &error)
{
    return failureInfo(error.code).customerMessage;
}

} // namespace

QString toString(TimelineStatus status)
{
    const int i = int(status);
    return (i >= 0 && i < 5) ? QString::fromLatin1(kTimelineNames[i]) : QString();
}

std::optional<TimelineStatus> timelineStatusFromString(QStringView text)
{
    for (int i = 0; i < 5; ++i) {
        if (text == QLatin1String(kTimelineNames[i]))
            return TimelineStatus(i);
    }
    return std::nullopt;
}

bool TimelineEntry::operator==(const TimelineEntry &o) const
{
    return timestamp == o.timestamp && title == o.title && description == o.description
           && status == o.status && step == o.step && error == o.error;
}

bool ExecutionSummary::operator==(const ExecutionSummary &o) const
{
    return executionId == o.executionId && attemptNumber == o.attemptNumber
           && startedAt == o.startedAt && completedAt == o.completedAt && outcome == o.outcome
           && failedStep == o.failedStep && stepsCompleted == o.stepsCompleted
           && isRetry == o.isRetry;
}

OrderHistory HistoryBuilder::build(const QVector<OrderEvent> &input, int maxRetries)
{
    OrderHistory history;
    if (input.isEmpty())
        return history;

    QVector<OrderEvent> events = input;
    std::stable_sort(events.begin(), events.end(),
                     [](const OrderEvent &a, const OrderEvent &b) { return a.seq < b.seq; });

    OrderProgress progress(events.front().orderId);
    history.orderId = events.front().orderId;
    // The current attempt's "<Step> Failed" line (-1: none), whose advice follows what
    // the history shows of the attempt's end (adviseNoRetry); and whether a reversal
    // of it gave up (a compensation step, or the reversal of a call that did not
    // answer): its compensation ends incomplete.
    qsizetype failedLine = -1;
    bool reversalGaveUp = false;
    bool injectedFailure = false; // the current attempt's forward failure was injected
    const auto lastAttempt = [&progress, maxRetries] { return progress.attemptNumber - 1 >= maxRetries; };

    for (const OrderEvent &e : std::as_const(events)) {
        const FoldResult r = progress.apply(e);
        if (r.outcome == FoldResult::Duplicate)
            continue;
        if (r.outcome == FoldResult::Rejected) {
            qCWarning(lcModel) << "history: skipping event:" << r.error;
            continue;
        }

        TimelineEntry entry;
        entry.timestamp = e.timestamp;
        entry.step = e.step;
        bool addEntry = true;

        // A forward call that did not answer may have taken effect; the event after
        // its reversal says what came of it: a line of its own, before this one.
        if ((e.type == EventType::CompensationStarted && !e.step) || e.type == EventType::SagaFailed) {
            if (auto reversal = uncertainReversal(e, progress.failure.code)) {
                reversalGaveUp |= reversal->status == TimelineStatus::Failed;
                history.timeline.append(*reversal);
            }
        }

        switch (e.type) {
        case EventType::SagaStarted: {
            ExecutionSummary x;
            x.attemptNumber = qMax(1, e.details.value(QLatin1String("attemptNumber")).toInt(1));
            const QJsonValue id = e.details.value(QLatin1String("executionId"));
            x.executionId = id.isString() ? id.toString()
                                          : QStringLiteral("%1-%2").arg(
                                                e.orderId.toString(QUuid::WithoutBraces))
                                                .arg(x.attemptNumber);
            x.startedAt = e.timestamp;
            x.outcome = QStringLiteral("IN_PROGRESS");
            x.isRetry = e.details.value(QLatin1String("isRetry")).toBool(x.attemptNumber > 1);
            history.executions.append(x);
            failedLine = -1;
            reversalGaveUp = false;
            injectedFailure = false;
            entry.step.reset();
            entry.status = TimelineStatus::Neutral;
            if (x.isRetry) {
                entry.title = QStringLiteral("Retry Started");
                const QJsonObject corrected = e.details.value(QLatin1String("corrections")).toObject();
                const bool payment = corrected.contains(QLatin1String("paymentMethodId"));
                const bool address = corrected.contains(QLatin1String("shippingAddress"));
                entry.description =
                    payment && address
                        ? QStringLiteral("We are trying your order again (attempt %1) with your new payment method "
                                         "and shipping address.")
                    : payment ? QStringLiteral("We are trying your order again (attempt %1) with your new payment method.")
                    : address ? QStringLiteral("We are trying your order again (attempt %1) with your new shipping address.")
                              : QStringLiteral("We are trying your order again (attempt %1).");
                entry.description = entry.description.arg(x.attemptNumber);
            } else {
                entry.title = QStringLiteral("Order Placed");
                const QString number = e.details.value(QLatin1String("orderNumber")).toString();
                entry.description = number.isEmpty()
                                        ? QStringLiteral("We received your order and started processing it.")
                                        : QStringLiteral("We received your order %1 and started processing it.")
                                              .arg(number);
            }
            break;
        }
        case EventType::StepStarted:
            addEntry = false; // shown by the status, not worth a timeline line
            break;
        case EventType::StepCompleted:
            if (!history.executions.isEmpty())
                ++history.executions.last().stepsCompleted;
            entry.title = completedTitle(*e.step);
            entry.description = completedDescription(*e.step);
            // Taken over after an interruption (an engine stopped with it in flight):
            // driven again with the same idempotency key, so it was done once.
            if (resumedAttemptStart(e).isValid())
                entry.description += QStringLiteral(" This step was interrupted on our side and resumed where it left off; nothing was done twice.");
            entry.status = TimelineStatus::Success;
            break;
        case EventType::StepFailed: {
            const bool compensation =
                e.details.value(QLatin1String("phase")).toString() == QLatin1String("COMPENSATION");
            entry.status = TimelineStatus::Failed;
            if (compensation) {
                reversalGaveUp = true;
                entry.title = compensationFailedTitle(*e.step);
                entry.description = QStringLiteral(
                    "We could not undo this step automatically. Customer support has been notified.");
                entry.error = timelineError(e.error, QStringLiteral("COMPENSATION_FAILED"));
            } else {
                entry.title = shortName(*e.step) + QStringLiteral(" Failed");
                entry.description = friendlyFailure(e.error);
                entry.error = timelineError(e.error, QString());
                // Injected from the Failure Injection panel: the code's own advice
                // ("Correct your shipping address") would send someone after a fault
                // that is not there (the detail panel says the same).
                injectedFailure = e.details.value(QLatin1String("injected")).toBool();
                if (injectedFailure)
                    entry.error->suggestedAction = injectedFailureAction(entry.error->code);
                adviseNoRetry(&*entry.error, false, lastAttempt());
                failedLine = history.timeline.size();
            }
            break;
        }
        case EventType::CompensationStarted:
            if (e.step) {
                addEntry = false;
                break;
            }
            entry.title = QStringLiteral("Reversing Completed Steps");
            entry.description =
                QStringLiteral("Because a step failed, we are undoing the steps already completed.");
            entry.status = TimelineStatus::Neutral;
            break;
        case EventType::StepCompensated:
            entry.title = compensatedTitle(*e.step);
            entry.description = compensatedDescription(*e.step);
            entry.status = TimelineStatus::Compensated;
            if (const int failed = e.details.value(QLatin1String("failedAttempts")).toInt(); failed > 0) {
                // Reversed in the end, after calls that failed: how many, and the last
                // one's answer (no suggested action: nothing is left to do).
                // Resumed after a restart: calls made before it are not counted.
                const bool resumed = e.details.value(QLatin1String("resumed")).toBool();
                entry.description += QStringLiteral(" This took %1%2 attempts.")
                                         .arg(resumed ? QStringLiteral("at least ") : QString())
                                         .arg(failed + 1);
                const QJsonObject last = e.details.value(QLatin1String("lastFailure")).toObject();
                entry.error = TimelineError{last.value(QLatin1String("code")).toString(),
                                            last.value(QLatin1String("message")).toString(), QString()};
            } else if (e.details.value(QLatin1String("resumed")).toBool()) {
                // Resumed after a restart and done at its first call then: the calls
                // before the restart are not known, so no count.
                entry.description += QLatin1Char(' ') + resumedReversal();
            }
            break;
        case EventType::SagaCompleted: {
            entry.step.reset();
            entry.title = QStringLiteral("Order Complete");
            const QString confirmation =
                e.details.value(QLatin1String("confirmationNumber")).toString();
            entry.description = confirmation.isEmpty()
                                    ? QStringLiteral("Your order is complete.")
                                    : QStringLiteral("Your order is complete. Confirmation number: %1.")
                                          .arg(confirmation);
            entry.status = TimelineStatus::Success;
            break;
        }
        case EventType::Unrecognized:
            // Recorded by a newer version (or by hand): shown, so that something
            // happening here is not hidden, without guessing what it meant.
            entry.title = QStringLiteral("Unrecognized Update");
            entry.description = QStringLiteral("An update of type %1 was recorded here, which this version "
                                               "cannot describe (recorded by a newer version of Saga Console).")
                                    .arg(e.typeName.isEmpty() ? QStringLiteral("(none)") : e.typeName);
            entry.status = TimelineStatus::Neutral;
            break;
        case EventType::SagaFailed:
            entry.step.reset();
            entry.title = QStringLiteral("Order Could Not Be Completed");
            entry.status = TimelineStatus::Failed;
            if (progress.overallStatus == OverallStatus::RolledBack) {
                entry.description = QStringLiteral(
                    "We could not complete your order. Everything done so far has been reversed.");
            } else if (progress.compensationIncomplete) {
                entry.description = QStringLiteral(
                    "We could not complete your order and could not reverse every step. Customer "
                    "support will contact you.");
            } else {
                entry.description =
                    QStringLiteral("We could not complete your order. Nothing was charged.");
            }
            {
                const ErrorInfo cause = e.error.isNull() ? progress.failure : e.error;
                if (!cause.isNull()) {
                    entry.error = timelineError(cause, QString());
                    if (injectedFailure && failedLine >= 0 && history.timeline.at(failedLine).error
                        && history.timeline.at(failedLine).error->code == entry.error->code)
                        entry.error->suggestedAction = injectedFailureAction(entry.error->code);
                    adviseNoRetry(&*entry.error, progress.compensationIncomplete || reversalGaveUp, lastAttempt());
                }
            }
            break;
        }
        if (addEntry)
            history.timeline.append(entry);

        // Once the history shows that the attempt's compensation is incomplete (a
        // reversal gave up, or its end says so), its failure's line advises no retry.
        if (failedLine >= 0 && (progress.compensationIncomplete || reversalGaveUp)
            && history.timeline.at(failedLine).error)
            adviseNoRetry(&*history.timeline[failedLine].error, true, lastAttempt());

        // Steps the failure made unnecessary.
        for (SagaStep s : kAllSteps) {
            if ((r.changes.steps[size_t(s)] & ChangeSet::StepStatusField)
                && progress.step(s).status == StepStatus::Skipped) {
                TimelineEntry skipped;
                skipped.timestamp = e.timestamp;
                skipped.title = shortName(s) + QStringLiteral(" Skipped");
                skipped.description =
                    QStringLiteral("%1 was not needed because an earlier step failed.")
                        .arg(stepDisplayName(s));
                skipped.status = TimelineStatus::Skipped;
                skipped.step = s;
                // Keep "<Step> Failed" before its consequences.
                history.timeline.append(skipped);
            }
        }

        if (!history.executions.isEmpty() && progress.isTerminal()
            && (e.type == EventType::SagaCompleted || e.type == EventType::SagaFailed)) {
            ExecutionSummary &x = history.executions.last();
            x.completedAt = e.timestamp;
            x.failedStep = progress.failedStep;
            if (progress.overallStatus == OverallStatus::Completed)
                x.outcome = QStringLiteral("SUCCESS");
            else if (progress.overallStatus == OverallStatus::RolledBack)
                x.outcome = QStringLiteral("COMPENSATED");
            else
                x.outcome = QStringLiteral("FAILED");
        } else if (!history.executions.isEmpty() && e.type == EventType::StepFailed
                   && !history.executions.last().failedStep) {
            history.executions.last().failedStep = progress.failedStep;
        }
    }

    history.orderNumber = progress.orderNumber;
    history.createdAt = progress.createdAt;
    history.finalStatus = toString(progress.overallStatus);
    if (progress.isTerminal())
        history.completedAt = progress.lastUpdated;
    return history;
}
