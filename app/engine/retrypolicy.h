#pragma once

// Retry policy of SAGA-004 (pure, unit-tested).
//
// DECISION (which steps a retry re-runs): every failure compensates all the
// steps that had completed, so when an order can be retried nothing of the
// failed execution is still valid. A retry therefore is a new execution (new
// executionId, attemptNumber + 1) that re-runs ALL steps from "Inventory
// Reservation" (resumedFromStep = "Inventory Reservation"), with the corrected
// payment method / shipping address applied to the order first.
//
// Rules: only a FAILED or ROLLED_BACK order whose failure code is retryable
// (failureInfo(code).retryable) can be retried; a saga whose compensation is
// incomplete is not retryable (it needs an operator). At most maxRetries retries
// (attempts = 1 + retries). Cooldown: a retry may start `cooldownSeconds` after
// the previous retry was initiated (the first retry is allowed at once). One at a
// time: no retry while an execution of the order is still running.
//
// DECISION (PAYMENT_AMOUNT_MISMATCH: the payment service authorized another amount
// than the order's total, and the engine voided that authorization): retryable, as
// any code the failure catalog does not name. Once the void went through nothing is
// charged, a retry asks for the total again and its answer is checked again, and the
// retries are bounded; when the void did not go through the saga's compensation is
// incomplete, which is never retryable (support must look at the payment).

#include "failurecatalog.h"
#include "orderrecord.h"

#include <QDateTime>
#include <QString>

struct RetryFacts {
    bool orderExists = true;
    OverallStatus latestStatus = OverallStatus::Failed; // status of the newest execution
    int latestAttempt = 1;                              // attemptNumber of the newest execution
    QString failureCode;                                // SAGA_FAILED error code
    bool compensationIncomplete = false;
    QDateTime lastRetryInitiatedAt; // null when never retried
    QDateTime now;
    int maxRetries = kMaxRetries;
    int cooldownSeconds = 30;
};

struct RetryVerdict {
    RetryDecision::Code code = RetryDecision::Accepted;
    RetryEligibility eligibility;
};

class RetryPolicy
{
public:
    static RetryVerdict evaluate(const RetryFacts &facts);
    // What an ended, failed order tells its customer about a retry (the order's
    // answer: failure.retryable, suggestedAction): the failure catalog's entry for
    // its code, unless evaluate() refuses every retry of it for good (a non-retryable
    // code, compensation incomplete, the retries used up): then not retryable, no
    // required actions, and what to do instead. A cooldown is not for good.
    static FailureInfo failureAdvice(const RetryFacts &facts);
    // NotFailed's reason while an order's first execution runs.
    static QString stillRunningReason();
    // NotFailed's reason while the first execution's failure is being reversed
    // (ROLLING_BACK): a retry may be possible once that has ended.
    static QString beingReversedReason();
    // AlreadyInProgress's reason ("retry already in progress", then, while that
    // retry's failure is being reversed, that another retry may follow).
    static QString retryRunningReason(bool reversing);
};
