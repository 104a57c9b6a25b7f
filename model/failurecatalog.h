#pragma once

// What each failure code means for a customer and for a retry. Shared by the
// engine (retry policy), the history builder, the server and the console.

#include <QString>
#include <QStringList>

struct FailureInfo {
    QString code;
    bool retryable = false;       // a retry may succeed (possibly after a correction)
    QStringList requiredActions;  // e.g. UPDATE_PAYMENT_METHOD
    QString customerMessage;      // "Your payment was declined."
    QString suggestedAction;      // "Update your payment method and retry the order."
};

// Known codes: INVENTORY_UNAVAILABLE, PAYMENT_DECLINED, FRAUD_DETECTED,
// INVALID_ADDRESS, SHIPPING_UNAVAILABLE, STEP_TIMEOUT, SERVICE_UNAVAILABLE,
// COMPENSATION_FAILED, STORE_REFUSED (the database refused to record a step's
// outcome). Unknown codes are treated as retryable without action.
FailureInfo failureInfo(const QString &code);

// At most this many retries of one order (attempts = 1 + retries): the retry policy's
// default (RetryFacts, EngineConfig) and the limit the history reads its events by.
constexpr int kMaxRetries = 3;

// What to do about a failure that no retry can follow because the order has been
// retried as often as it can be (RetryPolicy::failureAdvice; the history's lines of
// the last allowed attempt).
QString retriesUsedUpAction();

// What to do about a forward failure injected from the Failure Injection panel
// (details.injected): nothing was wrong with the order, so nothing to correct; it
// can be retried as it is when `code` allows a retry at all (FRAUD_DETECTED never
// does, injected or not: RetryPolicy does not look at where a failure came from).
QString injectedFailureAction(const QString &code);

// The engine's own verdicts, which no step service answers: COMPENSATION_FAILED,
// STORE_REFUSED, PAYMENT_AMOUNT_MISMATCH (the payment was authorized for another
// amount), STEP_TIMEOUT. Compared ignoring case. A fault plan may not inject one, and
// a service answering one is rejecting the request in its own words (STEP_REJECTED).
bool isEngineVerdict(const QString &code);
