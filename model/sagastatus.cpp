#include "sagastatus.h"

namespace {

constexpr const char *kOverallNames[kOverallStatusCount] = {
    "QUEUED", "IN_PROGRESS", "COMPLETED", "FAILED", "ROLLING_BACK", "ROLLED_BACK",
};
constexpr const char *kStepStatusNames[kStepStatusCount] = {
    "PENDING", "IN_PROGRESS", "COMPLETED", "FAILED", "COMPENSATING", "COMPENSATED", "SKIPPED",
};
constexpr int kRecordStatusCount = 6;
constexpr const char *kRecordNames[kRecordStatusCount] = {
    "PENDING", "PROCESSING", "COMPLETED", "FAILED", "COMPENSATING", "COMPENSATED",
};
constexpr const char *kStepNames[kStepCount] = {
    "Inventory Reservation", "Payment Processing", "Shipping Arrangement",
};

template<typename Enum, int N>
std::optional<Enum> lookup(const char *const (&names)[N], QStringView text)
{
    for (int i = 0; i < N; ++i) {
        if (text == QLatin1String(names[i]))
            return Enum(i);
    }
    return std::nullopt;
}

// Static string data: the QStrings share one allocation each, so toString() is
// a reference count increment, not an allocation (it is called while painting).
template<int N>
struct NameTable {
    std::array<QString, N> strings;
    explicit NameTable(const char *const (&names)[N])
    {
        for (int i = 0; i < N; ++i)
            strings[size_t(i)] = QString::fromLatin1(names[i]);
    }
    QString at(int i) const { return (i >= 0 && i < N) ? strings[size_t(i)] : QString(); }
};

} // namespace

QString toString(OverallStatus status)
{
    static const NameTable<kOverallStatusCount> table(kOverallNames);
    return table.at(int(status));
}

QString toString(StepStatus status)
{
    static const NameTable<kStepStatusCount> table(kStepStatusNames);
    return table.at(int(status));
}

QString toString(OrderRecordStatus status)
{
    static const NameTable<kRecordStatusCount> table(kRecordNames);
    return table.at(int(status));
}

std::optional<OverallStatus> overallStatusFromString(QStringView text)
{
    return lookup<OverallStatus>(kOverallNames, text);
}

std::optional<StepStatus> stepStatusFromString(QStringView text)
{
    return lookup<StepStatus>(kStepStatusNames, text);
}

std::optional<OrderRecordStatus> orderRecordStatusFromString(QStringView text)
{
    return lookup<OrderRecordStatus>(kRecordNames, text);
}

QString stepDisplayName(SagaStep step)
{
    static const NameTable<kStepCount> table(kStepNames);
    return table.at(int(step));
}

std::optional<SagaStep> stepFromName(QStringView name)
{
    return lookup<SagaStep>(kStepNames, name);
}

bool isTerminal(OverallStatus status)
{
    return status == OverallStatus::Completed || status == OverallStatus::Failed
           || status == OverallStatus::RolledBack;
}

bool isTerminal(StepStatus status)
{
    return status == StepStatus::Completed || status == StepStatus::Failed
           || status == StepStatus::Compensated || status == StepStatus::Skipped;
}

bool isLegalTransition(StepStatus from, StepStatus to)
{
    switch (from) {
    case StepStatus::Pending:
        return to == StepStatus::InProgress || to == StepStatus::Skipped;
    case StepStatus::InProgress:
        return to == StepStatus::Completed || to == StepStatus::Failed;
    case StepStatus::Completed:
        return to == StepStatus::Compensating;
    case StepStatus::Compensating:
        return to == StepStatus::Compensated || to == StepStatus::Failed;
    case StepStatus::Failed:
    case StepStatus::Compensated:
    case StepStatus::Skipped:
        return to == StepStatus::Pending;
    }
    return false;
}

bool isLegalTransition(OverallStatus from, OverallStatus to)
{
    switch (from) {
    case OverallStatus::Queued:
        return to == OverallStatus::InProgress || to == OverallStatus::Failed;
    case OverallStatus::InProgress:
        return to == OverallStatus::Completed || to == OverallStatus::Failed
               || to == OverallStatus::RollingBack;
    case OverallStatus::RollingBack:
        return to == OverallStatus::RolledBack || to == OverallStatus::Failed;
    case OverallStatus::Failed:
    case OverallStatus::RolledBack:
        return to == OverallStatus::Queued;
    case OverallStatus::Completed:
        return false;
    }
    return false;
}

OrderRecordStatus recordStatusFor(OverallStatus status)
{
    switch (status) {
    case OverallStatus::Queued:
        return OrderRecordStatus::Pending;
    case OverallStatus::InProgress:
        return OrderRecordStatus::Processing;
    case OverallStatus::Completed:
        return OrderRecordStatus::Completed;
    case OverallStatus::Failed:
        return OrderRecordStatus::Failed;
    case OverallStatus::RollingBack:
        return OrderRecordStatus::Compensating;
    case OverallStatus::RolledBack:
        return OrderRecordStatus::Compensated;
    }
    return OrderRecordStatus::Pending;
}
