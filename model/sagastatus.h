#pragma once

// Status vocabulary of the order saga. The string forms are API contracts
// (ARCHITECTURE.md, "Statuses"): never rename them.

#include <QString>
#include <QStringView>
#include <array>
#include <optional>

// Overall status of an order's saga (`overallStatus`).
enum class OverallStatus : quint8 {
    Queued,      // order received, no step started yet
    InProgress,  // a forward step is running or about to
    Completed,   // all steps succeeded
    Failed,      // failed with nothing to compensate, or compensation incomplete
    RollingBack, // compensation in progress
    RolledBack,  // every completed step compensated
};
constexpr int kOverallStatusCount = 6;

// Status of one step.
enum class StepStatus : quint8 {
    Pending,
    InProgress,
    Completed,
    Failed,
    Compensating,
    Compensated,
    Skipped,
};
constexpr int kStepStatusCount = 7;

// Status of the order record (`GET /api/orders/{id}` -> `status`).
enum class OrderRecordStatus : quint8 {
    Pending,
    Processing,
    Completed,
    Failed,
    Compensating,
    Compensated,
};

// The three saga steps, in execution order.
enum class SagaStep : quint8 { Inventory = 0, Payment = 1, Shipping = 2 };
constexpr int kStepCount = 3;
constexpr std::array<SagaStep, kStepCount> kAllSteps{SagaStep::Inventory, SagaStep::Payment,
                                                     SagaStep::Shipping};

QString toString(OverallStatus status);
QString toString(StepStatus status);
QString toString(OrderRecordStatus status);
std::optional<OverallStatus> overallStatusFromString(QStringView text);
std::optional<StepStatus> stepStatusFromString(QStringView text);
std::optional<OrderRecordStatus> orderRecordStatusFromString(QStringView text);

// "Inventory Reservation", "Payment Processing", "Shipping Arrangement".
QString stepDisplayName(SagaStep step);
// Accepts the display name (the API form).
std::optional<SagaStep> stepFromName(QStringView name);
// 1-based position as in the status response's `order` key.
inline int stepOrder(SagaStep step) { return int(step) + 1; }

bool isTerminal(OverallStatus status);
bool isTerminal(StepStatus status); // COMPLETED, FAILED, COMPENSATED, SKIPPED

// Transition rules. Self-transitions are illegal (a repeated event is a
// duplicate, handled by its sequence number, not by the rules).
//   Step:    PENDING -> IN_PROGRESS | SKIPPED
//            IN_PROGRESS -> COMPLETED | FAILED
//            COMPLETED -> COMPENSATING
//            COMPENSATING -> COMPENSATED | FAILED (compensation gave up)
//            FAILED | COMPENSATED | SKIPPED -> PENDING (only by a retry)
//   Overall: QUEUED -> IN_PROGRESS | FAILED
//            IN_PROGRESS -> COMPLETED | FAILED | ROLLING_BACK
//            ROLLING_BACK -> ROLLED_BACK | FAILED
//            FAILED | ROLLED_BACK -> QUEUED (only by a retry)
bool isLegalTransition(StepStatus from, StepStatus to);
bool isLegalTransition(OverallStatus from, OverallStatus to);

// The order record status that corresponds to a saga's overall status.
OrderRecordStatus recordStatusFor(OverallStatus status);
