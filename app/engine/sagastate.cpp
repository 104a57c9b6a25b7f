#include "sagastate.h"

bool SagaState::isTerminal() const
{
    return overall == OverallStatus::Completed || overall == OverallStatus::Failed
        || overall == OverallStatus::RolledBack;
}

void SagaState::setOrder(const OrderRecord &order)
{
    orderId = order.id;
    orderNumber = order.orderNumber;
    customerId = order.customerId;
    traceId = order.traceId;
    items = order.items;
    paymentMethodId = order.paymentMethodId;
    shippingAddress = order.shippingAddress;
    totalInCents = order.totalInCents;
}

void SagaState::apply(const OrderEvent &event)
{
    lastSeq = qMax(lastSeq, event.seq);
    const QJsonObject &d = event.details;
    switch (event.type) {
    case EventType::SagaStarted:
        executionId = d.value(QStringLiteral("executionId")).toString(executionId);
        attemptNumber = d.value(QStringLiteral("attemptNumber")).toInt(attemptNumber);
        if (d.contains(QStringLiteral("orderNumber")))
            orderNumber = d.value(QStringLiteral("orderNumber")).toString();
        overall = OverallStatus::Queued;
        steps.fill(StepStatus::Pending);
        currentStep.reset();
        context.clear();
        failedStep.reset();
        failure = ErrorInfo();
        compensationIncomplete = false;
        reversalOwed.reset();
        reversalFailure = ErrorInfo();
        resetCompensationAttempts();
        forwardCalls.fill(0); // a new execution: its calls are new (new keys)
        resumedStep.reset();
        resumedCallAt = 0;
        break;
    case EventType::StepStarted:
        if (event.step) {
            step(*event.step) = StepStatus::InProgress;
            currentStep = event.step;
        }
        overall = OverallStatus::InProgress;
        break;
    case EventType::StepCompleted:
        if (event.step) {
            step(*event.step) = StepStatus::Completed;
            context.set(*event.step, d);
        }
        break;
    case EventType::StepFailed:
        if (!event.step)
            break;
        step(*event.step) = StepStatus::Failed;
        if (d.value(QStringLiteral("phase")).toString() == QLatin1String("COMPENSATION")) {
            compensationIncomplete = true;
            resetCompensationAttempts();
        } else {
            for (SagaStep s : kAllSteps) {
                if (int(s) > int(*event.step) && step(s) == StepStatus::Pending)
                    step(s) = StepStatus::Skipped;
            }
            failedStep = event.step;
            failure = event.error;
            if (d.value(QStringLiteral("reversalOwed")).toBool()) {
                reversalOwed = event.step;
                compensationSince = event.timestamp.toMSecsSinceEpoch();
                // An answer refused although it took effect: its id is what is reversed.
                const QJsonValue answered = d.value(QStringLiteral("answered"));
                if (answered.isObject())
                    context.set(*event.step, answered.toObject());
            }
        }
        break;
    case EventType::CompensationStarted:
        if (event.step) {
            step(*event.step) = StepStatus::Compensating;
            currentStep = event.step;
            resetCompensationAttempts();
            compensationSince = event.timestamp.toMSecsSinceEpoch();
        } else {
            overall = OverallStatus::RollingBack;
            settleReversal(d);
        }
        break;
    case EventType::StepCompensated:
        if (event.step)
            step(*event.step) = StepStatus::Compensated;
        resetCompensationAttempts();
        break;
    case EventType::SagaCompleted:
        overall = OverallStatus::Completed;
        currentStep.reset();
        break;
    case EventType::SagaFailed: {
        settleReversal(d);
        bool anyCompensated = false;
        for (StepStatus s : steps)
            anyCompensated = anyCompensated || s == StepStatus::Compensated;
        overall = (!compensationIncomplete && anyCompensated) ? OverallStatus::RolledBack : OverallStatus::Failed;
        if (d.value(QStringLiteral("compensationIncomplete")).toBool())
            overall = OverallStatus::Failed;
        currentStep.reset();
        break;
    }
    case EventType::Unrecognized:
        // Written by a newer version: Orchestrator::resume() leaves such a saga to
        // it; a retry's history only needs the seq.
        break;
    }
}

void SagaState::resetCompensationAttempts()
{
    compensationSince = 0;
    compensationResumed = false;
    compensationDeadline = 0;
    compensationAttempts = 0;
    compensationLastFailure = ErrorInfo();
    compensationLastInjected = false;
}

void SagaState::settleReversal(const QJsonObject &details)
{
    if (details.value(QStringLiteral("uncertainStepReversed")) == QJsonValue(false)) {
        compensationIncomplete = true;
        const QJsonObject last = details.value(QStringLiteral("uncertainStepFailure")).toObject();
        reversalFailure = ErrorInfo{last.value(QStringLiteral("code")).toString(),
                                    last.value(QStringLiteral("message")).toString()};
    }
    if (reversalOwed)
        resetCompensationAttempts(); // the owed reversal's calls are over
    reversalOwed.reset();
    reversalDone.reset();
    reversalAttempts = 0;
    reversalResumed = false;
    reversalLastFailure = ErrorInfo();
    reversalNote.clear();
}

SagaState SagaState::fromHistory(const OrderRecord &order, const QVector<OrderEvent> &events)
{
    SagaState s;
    s.setOrder(order);
    for (const OrderEvent &e : events)
        s.apply(e);
    for (SagaStep st : kAllSteps) {
        if (s.step(st) == StepStatus::InProgress) {
            s.forwardCalls[size_t(st)] = 1;
            s.resumedStep = st;
        }
    }
    // Calls of this compensation may have failed before: they are not on record.
    s.compensationResumed = s.compensationSince > 0;
    return s;
}
