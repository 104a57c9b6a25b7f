#include "retrypolicy.h"

QString RetryPolicy::stillRunningReason()
{
    return QStringLiteral("the order's saga is still running; only a failed order can be retried");
}

QString RetryPolicy::beingReversedReason()
{
    return QStringLiteral("the order's failed attempt is still being reversed; once that has ended the order can be "
                          "retried, if its failure allows a retry");
}

QString RetryPolicy::retryRunningReason(bool reversing)
{
    // "retry already in progress" first: clients tell the refusal by it (RemoteSource).
    return reversing ? QStringLiteral("retry already in progress: its failed attempt is still being reversed; once "
                                      "that has ended the order can be retried again, if its failure allows a retry")
                     : QStringLiteral("retry already in progress");
}

RetryVerdict RetryPolicy::evaluate(const RetryFacts &f)
{
    RetryVerdict v;
    RetryEligibility &e = v.eligibility;
    e.maxRetries = f.maxRetries;
    e.retryCount = qMax(0, f.latestAttempt - 1);
    auto reject = [&](RetryDecision::Code code, const QString &reason) {
        v.code = code;
        e.eligible = false;
        e.reason = reason;
        return v;
    };
    if (!f.orderExists)
        return reject(RetryDecision::NotFound, QStringLiteral("order not found"));
    if (f.latestStatus == OverallStatus::Queued || f.latestStatus == OverallStatus::InProgress
        || f.latestStatus == OverallStatus::RollingBack) {
        // The first execution running: nothing failed yet, so nothing to retry. While
        // a failed attempt is reversed, a retry may come once that has ended: said so
        // (the refusal's code stays: the order has not failed yet).
        const bool reversing = f.latestStatus == OverallStatus::RollingBack;
        if (f.latestAttempt <= 1)
            return reject(RetryDecision::NotFailed, reversing ? beingReversedReason() : stillRunningReason());
        return reject(RetryDecision::AlreadyInProgress, retryRunningReason(reversing));
    }
    if (f.latestStatus == OverallStatus::Completed)
        return reject(RetryDecision::NotFailed, QStringLiteral("order completed successfully; nothing to retry"));

    const FailureInfo info = failureInfo(f.failureCode);
    if (f.compensationIncomplete)
        return reject(RetryDecision::NonRetryable,
                      QStringLiteral("non-retryable failure: compensation incomplete, contact support"));
    if (!info.retryable)
        return reject(RetryDecision::NonRetryable, QStringLiteral("non-retryable failure"));
    if (e.retryCount >= f.maxRetries)
        return reject(RetryDecision::MaxAttemptsExceeded, QStringLiteral("maximum retry attempts exceeded"));
    // What a retry will need (also while it must wait); none when it cannot happen.
    e.requiredActions = info.requiredActions;
    if (f.lastRetryInitiatedAt.isValid()) {
        const QDateTime next = f.lastRetryInitiatedAt.addSecs(f.cooldownSeconds);
        if (f.now < next) {
            e.nextRetryAvailableAt = next;
            return reject(RetryDecision::CooldownActive, QStringLiteral("retry cooldown period not elapsed"));
        }
    }
    v.code = RetryDecision::Accepted;
    e.eligible = true;
    e.reason = info.requiredActions.isEmpty()
        ? QStringLiteral("order can be retried")
        : QStringLiteral("order can be retried after the required corrections");
    return v;
}

FailureInfo RetryPolicy::failureAdvice(const RetryFacts &facts)
{
    FailureInfo info = failureInfo(facts.failureCode);
    RetryFacts forGood = facts;
    forGood.lastRetryInitiatedAt = QDateTime(); // a cooldown passes
    const RetryDecision::Code code = evaluate(forGood).code;
    if (code != RetryDecision::NonRetryable && code != RetryDecision::MaxAttemptsExceeded)
        return info;
    info.retryable = false;
    info.requiredActions.clear();
    if (facts.compensationIncomplete)
        info.suggestedAction = failureInfo(QStringLiteral("COMPENSATION_FAILED")).suggestedAction;
    else if (code == RetryDecision::MaxAttemptsExceeded)
        info.suggestedAction = retriesUsedUpAction();
    return info;
}
