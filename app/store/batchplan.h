#pragma once

// What one batch of transitions writes, row by row, worked out once for both
// dialects (SagaStore::commitTransitions turns it into SQL):
//  - new orders and their items, inserted in the status the batch leaves them in;
//  - new executions (SAGA_STARTED), inserted in their final state for the batch,
//    and retry_attempts rows plus the order corrections a retry carries;
//  - the final state of every other execution the batch touches (written only if
//    this engine still holds its lease);
//  - saga_step_results merged per (execution, step); a step taken over after an
//    interruption gets the resumed attempt's start as its started_at when it ends
//    (details.resumedAt, resumedAttemptStart());
//  - order rows whose status the batch changes (and the outcome on completion);
//  - outcomes of retry attempts that ended;
//  - the events, marking each SAGA_STARTED that creates an order (its details get
//    the order number: on SQLite from saga_counters before the plan is made, on
//    PostgreSQL from the saga_order_number_seq sequence inside saga_commit_batch).

#include "storetransition.h"

#include <QString>
#include <QVector>
#include <array>
#include <optional>

struct BatchPlan {
    struct Order {
        QString day;    // yyyyMMdd (UTC) of the order's creation, part of its number
        QString id, number, customerId, status, overallStatus, paymentMethodId;
        QString street, city, state, postalCode, country, traceId; // traceId: null when none
        qint64 totalInCents = 0;
        qint64 createdAt = 0;
    };
    struct Item {
        QString orderId;
        int lineNo = 0;
        QString productId, productName;
        qint64 quantity = 0;
        qint64 unitPriceInCents = 0;
    };
    struct Execution {
        QString executionId, orderId;
        int attempt = 1;
        QString status, currentStep; // currentStep: null when none
        qint64 startedAt = 0;
        qint64 leaseExpiresAt = 0;
    };
    struct Retry {
        QString orderId;
        int attempt = 1;
        QString executionId;
        qint64 initiatedAt = 0;
        QString resumedFromStep;
    };
    struct Correction { // a retry's corrections: only what is set changes
        QString orderId;
        std::optional<QString> paymentMethodId;
        std::optional<ShippingAddress> address;
    };
    struct ExecutionUpdate { // text as UTF-8
        QByteArray executionId, status, currentStep; // currentStep: null when none
        bool terminal = false;                     // completed_at set, lease released
        qint64 completedAt = 0;
    };
    struct StepResult { // null / nullopt = keep what is stored
        QByteArray executionId, stepName, status; // UTF-8
        std::optional<qint64> startedAt, completedAt;
        QString errorCode, errorMessage;
        QByteArray result; // compact JSON (UTF-8)
    };
    struct OrderUpdate {
        QString id, status, overallStatus;
        bool completed = false; // the outcome columns below are set
        QString confirmationNumber, estimatedDelivery;
        qint64 totalChargedInCents = 0;
    };
    struct RetryOutcome {
        QString orderId;
        int attempt = 1;
        QString outcome;
    };
    struct Event {
        QByteArray orderId;       // UTF-8
        QByteArray details;       // order_events.details (compact JSON, UTF-8)
        bool createsOrder = false; // SAGA_STARTED of a new order: details carry its number
    };

    QVector<Order> orders;
    QVector<Item> items;
    QVector<Execution> executions;
    QVector<Retry> retries;
    QVector<Correction> corrections;
    QVector<ExecutionUpdate> executionUpdates;
    QVector<StepResult> stepResults;
    QVector<OrderUpdate> orderUpdates;
    QVector<RetryOutcome> retryOutcomes;
    QVector<Event> events; // parallel to the batch
    int newOrders = 0;

    // `events` are the batch's events (same order). With `firstOrderNumber` the new
    // orders are numbered ORD-yyyyMMdd-NNNNNN from it and their SAGA_STARTED
    // details get orderNumber; without it their numbers stay null (the database
    // assigns them).
    static BatchPlan build(const QVector<StoreTransition> &batch, QVector<OrderEvent> &events, qint64 leaseExpiresAt,
                           std::optional<qint64> firstOrderNumber);
    // The plan as saga_commit_batch's array arguments (resources/sql/postgres/
    // 005_binary_rows.sql), in PostgreSQL's binary format: one array of records per
    // kind of row, in the function's parameter order. `rowTypes` are the pg_type
    // OIDs of the row types, named in pgRowTypeNames (read once per connection).
    enum PgArray { Orders, Items, Executions, Retries, Corrections, ExecutionUpdates, StepResults, OrderUpdates,
                   RetryOutcomes, Events, PgArrayCount };
    static const char *const pgRowTypeNames[PgArrayCount];
    using PgRowTypes = std::array<quint32, PgArrayCount>;
    std::array<QByteArray, PgArrayCount> toPgBinary(const QVector<OrderEvent> &events, const PgRowTypes &rowTypes) const;

    // Fills t.encoded from the rest of t (BatchPlan::build uses what it finds there).
    static void encode(StoreTransition &t);

    static int countNewOrders(const QVector<StoreTransition> &batch);
    static QString orderNumber(const QString &day, qint64 number);
};
