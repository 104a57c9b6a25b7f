#pragma once

// Plain domain records shared by every layer: the order as placed, its
// executions and retry attempts, and the request shapes of placing and
// retrying an order. No behaviour beyond small helpers.

#include "failurecatalog.h"
#include "sagastatus.h"

#include <QDateTime>
#include <QMetaType>
#include <QString>
#include <QStringList>
#include <QUuid>
#include <QVector>
#include <optional>

struct OrderItem {
    QString productId;
    QString productName;
    int quantity = 0;
    qint64 unitPriceInCents = 0;
    bool operator==(const OrderItem &o) const
    {
        return productId == o.productId && productName == o.productName && quantity == o.quantity
               && unitPriceInCents == o.unitPriceInCents;
    }
};

struct ShippingAddress {
    QString street;
    QString city;
    QString state;
    QString postalCode;
    QString country; // ISO 3166 alpha-2
    bool operator==(const ShippingAddress &o) const
    {
        return street == o.street && city == o.city && state == o.state && postalCode == o.postalCode
               && country == o.country;
    }
};

// Body of POST /api/orders.
struct OrderRequest {
    QUuid customerId;
    QVector<OrderItem> items;
    QString paymentMethodId;
    ShippingAddress shippingAddress;
    QString traceId; // W3C trace id (32 hex) of the request that placed it; may be empty
    // The client's Idempotency-Key (saga-server): the same key of the same customer
    // places one order (the engine derives its id from both). Empty: none.
    QString idempotencyKey;

    qint64 totalInCents() const;
};

// Body of POST /api/orders/{id}/retry: optional corrections.
struct RetryRequest {
    QUuid orderId;
    std::optional<QString> paymentMethodId;
    std::optional<ShippingAddress> shippingAddress;
    QString traceId;
};

// The order as stored (GET /api/orders/{id}).
struct OrderRecord {
    QUuid id;
    QString orderNumber; // e.g. ORD-20260124-000042
    QUuid customerId;
    OrderRecordStatus status = OrderRecordStatus::Pending;
    QVector<OrderItem> items;
    QString paymentMethodId;
    ShippingAddress shippingAddress;
    qint64 totalInCents = 0;
    QString confirmationNumber;     // empty until completed
    qint64 totalChargedInCents = -1; // -1 until charged
    QString estimatedDelivery;      // ISO date, empty until known
    QString traceId;
    QDateTime createdAt;
    QDateTime updatedAt;
};

// One run of the saga for an order (saga_executions).
struct ExecutionRecord {
    QString executionId;
    QUuid orderId;
    int attemptNumber = 1;
    OverallStatus status = OverallStatus::Queued;
    std::optional<SagaStep> currentStep;
    QDateTime startedAt;
    QDateTime completedAt;
};

// retry_attempts row.
struct RetryAttempt {
    int attemptNumber = 0;
    QDateTime initiatedAt;
    QString resumedFromStep; // step display name
    QString outcome;         // IN_PROGRESS | SUCCESS | FAILED | COMPENSATED
    QString executionId;
};

// GET /api/orders/{id}/retry/eligibility.
struct RetryEligibility {
    bool eligible = false;
    QString reason;              // why not, or why a correction is needed
    QStringList requiredActions; // UPDATE_PAYMENT_METHOD, UPDATE_SHIPPING_ADDRESS
    int retryCount = 0;
    int maxRetries = kMaxRetries;
    QDateTime nextRetryAvailableAt; // null when no cooldown applies
};

// Outcome of asking for a retry.
struct RetryDecision {
    enum Code : quint8 {
        Accepted,
        NotFound,
        NotFailed,          // the order did not fail (nothing to retry)
        NonRetryable,       // "non-retryable failure"
        MaxAttemptsExceeded,// "maximum retry attempts exceeded"
        CooldownActive,     // "retry cooldown period not elapsed"
        AlreadyInProgress,  // "retry already in progress"
        Unavailable,        // database unavailable
    };
    Code code = Accepted;
    QString reason;
    int attemptNumber = 0;
    QString executionId;
    QDateTime nextRetryAvailableAt;
    // Sent, but no answer came (a timeout, the connection lost): the retry may
    // have started all the same (code Unavailable; the reason says so).
    bool outcomeUnknown = false;
};

Q_DECLARE_METATYPE(OrderRequest)
Q_DECLARE_METATYPE(RetryRequest)
Q_DECLARE_METATYPE(OrderRecord)
