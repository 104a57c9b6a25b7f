#pragma once

#include "failurecatalog.h"
#include "orderevent.h"

#include <QDateTime>
#include <QString>
#include <QUuid>
#include <QVector>
#include <optional>

// Outcome shown next to a timeline entry.
enum class TimelineStatus : quint8 { Success, Failed, Compensated, Skipped, Neutral };
QString toString(TimelineStatus status); // SUCCESS, FAILED, COMPENSATED, SKIPPED, NEUTRAL
std::optional<TimelineStatus> timelineStatusFromString(QStringView text);

struct TimelineError {
    QString code;
    QString message;
    QString suggestedAction;
    bool operator==(const TimelineError &o) const
    {
        return code == o.code && message == o.message && suggestedAction == o.suggestedAction;
    }
};

struct TimelineEntry {
    QDateTime timestamp;
    QString title;       // "Order Placed", "Payment Failed", "Inventory Released" ...
    QString description; // customer-friendly sentence
    TimelineStatus status = TimelineStatus::Neutral;
    std::optional<SagaStep> step;
    std::optional<TimelineError> error;
    bool operator==(const TimelineEntry &o) const;
};

struct ExecutionSummary {
    QString executionId;
    int attemptNumber = 1;
    QDateTime startedAt;
    QDateTime completedAt; // null while running
    QString outcome;       // SUCCESS | FAILED | COMPENSATED | IN_PROGRESS
    std::optional<SagaStep> failedStep;
    int stepsCompleted = 0;
    bool isRetry = false;
    bool operator==(const ExecutionSummary &o) const;
};

struct OrderHistory {
    QUuid orderId;
    QString orderNumber;
    QDateTime createdAt;
    QDateTime completedAt; // null while not terminal
    QString finalStatus;   // overall status name of the latest execution
    QVector<TimelineEntry> timeline;
    QVector<ExecutionSummary> executions;
    int executionCount() const { return int(executions.size()); }
};

// Builds the customer-facing history of one order from its events (in seq order).
// `maxRetries`: the retries an order is allowed (RetryFacts::maxRetries); a failure
// in the last allowed attempt advises no retry.
class HistoryBuilder
{
public:
    static OrderHistory build(const QVector<OrderEvent> &events, int maxRetries = kMaxRetries);
};
