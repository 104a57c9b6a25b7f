#pragma once

#include "orderevent.h"
#include "stepprogress.h"

#include <QDateTime>
#include <QString>
#include <QUuid>
#include <array>
#include <map>
#include <memory>
#include <optional>

// Which parts of an OrderProgress one apply() changed. Lets the tree model emit
// dataChanged for exactly the cells that changed.
struct ChangeSet {
    enum OrderField : quint32 {
        Overall = 1u << 0,
        CurrentStep = 1u << 1,
        LastUpdated = 1u << 2,
        Eta = 1u << 3,
        Meta = 1u << 4,    // orderNumber, customerId, traceId, attempt, createdAt
        Outcome = 1u << 5, // confirmation, failure reason
    };
    enum StepField : quint32 {
        StepStatusField = 1u << 0,
        StepStarted = 1u << 1,
        StepCompleted = 1u << 2, // completedAt, resumedAt
        StepError = 1u << 3,
    };
    quint32 order = 0;
    std::array<quint32, kStepCount> steps{};

    bool isEmpty() const { return order == 0 && steps[0] == 0 && steps[1] == 0 && steps[2] == 0; }
    void merge(const ChangeSet &o)
    {
        order |= o.order;
        for (int i = 0; i < kStepCount; ++i)
            steps[i] |= o.steps[i];
    }
};

// What applying one event did.
struct FoldResult {
    enum Outcome : quint8 {
        Applied,   // the event (and any buffered successors) were applied
        Duplicate, // seq already applied: nothing changed (idempotent)
        Buffered,  // seq is ahead of the next expected one: held until the gap fills
        Rejected,  // illegal transition, wrong order id, or gap buffer full: nothing changed
    };
    Outcome outcome = Applied;
    QString error;   // set when Rejected
    int applied = 0; // events applied by this call (1 + drained buffered ones)
    ChangeSet changes;
    bool ok() const { return outcome == Applied || outcome == Duplicate || outcome == Buffered; }
};

// The current state of one order's saga, derived only by folding its events
// (the seed's OrderProgress plus what the console shows).
class OrderProgress
{
public:
    // Maximum number of out-of-order events held while waiting for a gap to fill.
    static constexpr int kMaxBuffered = 64;

    OrderProgress();
    explicit OrderProgress(const QUuid &orderId);
    OrderProgress(const OrderProgress &other);
    OrderProgress &operator=(const OrderProgress &other);
    OrderProgress(OrderProgress &&) noexcept = default;
    OrderProgress &operator=(OrderProgress &&) noexcept = default;
    ~OrderProgress();

    // The one fold. Applies `event` if its seq is the next expected one, ignores
    // duplicates, buffers events after a gap (rejects when the buffer is full),
    // rejects illegal transitions leaving the state untouched.
    FoldResult apply(const OrderEvent &event);

    QUuid orderId;
    QString orderNumber;
    QUuid customerId;
    QString traceId;
    OverallStatus overallStatus = OverallStatus::Queued;
    std::optional<SagaStep> currentStep;
    std::array<StepProgress, kStepCount> steps;
    QDateTime createdAt;   // timestamp of the first SAGA_STARTED
    QDateTime lastUpdated; // timestamp of the last applied event
    QDateTime estimatedCompletion; // null when terminal or unknown (set by EtaEstimator)
    qint64 lastSeq = 0;
    int attemptNumber = 0;
    bool compensationIncomplete = false;
    ErrorInfo failure;          // the error that made the saga fail (if any)
    std::optional<SagaStep> failedStep;
    QString confirmationNumber; // set on SAGA_COMPLETED
    qint64 totalChargedInCents = -1;

    const StepProgress &step(SagaStep s) const { return steps[size_t(s)]; }
    // Number of steps in a final successful state (COMPLETED), 0..3.
    int completedStepCount() const;
    // Progress in percent for display: finished work over total work.
    int progressPercent() const;
    bool isTerminal() const { return ::isTerminal(overallStatus); }
    int bufferedCount() const;

    // Equality of the visible state (ignores the gap buffer).
    bool operator==(const OrderProgress &o) const;
    bool operator!=(const OrderProgress &o) const { return !(*this == o); }

private:
    FoldResult applyOne(const OrderEvent &event);
    std::unique_ptr<std::map<qint64, OrderEvent>> m_buffer; // only allocated after a gap
};

Q_DECLARE_METATYPE(OrderProgress)
