#pragma once

// Failure injection for the simulated steps: what the console's failure panel
// edits and what PUT /api/simulator/faults carries. Pure data; the engine's
// simulated step client applies it.

#include "sagastatus.h"

#include <QJsonObject>
#include <QString>
#include <QStringList>
#include <array>
#include <optional>

struct StepFault {
    enum class Kind : quint8 {
        None,
        Fail,             // the forward call fails with errorCode
        Delay,            // the forward call takes delayMs longer
        Timeout,          // the forward call never answers (the client's timeout fires)
        FailCompensation, // the forward call succeeds; its compensation fails
    };
    Kind kind = Kind::None;
    QString errorCode;         // for Fail; default per step when empty
    int delayMs = 0;           // for Delay
    double probability = 1.0;  // 0..1, chance per call
    bool once = true;          // disarm after it fired once
    bool operator==(const StepFault &o) const
    {
        return kind == o.kind && errorCode == o.errorCode && delayMs == o.delayMs
               && probability == o.probability && once == o.once;
    }
};

// The codes offered for failing `step` (the failure-injection panel's list): its own
// business codes and SERVICE_UNAVAILABLE. A code of the operator's own is taken too.
QStringList suggestedFaultCodes(SagaStep step);
// Why a fault may not fail `step` with `code` (empty: it may). Refused: the engine's
// own verdicts, which no step call answers (COMPENSATION_FAILED, STORE_REFUSED,
// PAYMENT_AMOUNT_MISMATCH; STEP_TIMEOUT is kind TIMEOUT), and another step's codes
// (FRAUD_DETECTED on Shipping Arrangement). Compared ignoring case, as the HTTP step
// client does with a service's answer.
QString faultCodeProblem(SagaStep step, const QString &code);

QString toString(StepFault::Kind kind); // NONE, FAIL, DELAY, TIMEOUT, FAIL_COMPENSATION
std::optional<StepFault::Kind> stepFaultKindFromString(QStringView text);

struct FaultPlan {
    std::array<StepFault, kStepCount> steps{};

    StepFault &operator[](SagaStep s) { return steps[size_t(s)]; }
    const StepFault &operator[](SagaStep s) const { return steps[size_t(s)]; }
    bool isEmpty() const;
    bool operator==(const FaultPlan &o) const { return steps == o.steps; }

    // {"steps": {"Inventory Reservation": {"kind": "FAIL", "errorCode": "...",
    //   "delayMs": 0, "probability": 1.0, "once": true}, ...}}
    QJsonObject toJson() const;
    // Validates every field; on error names it (e.g. "steps.Payment Processing.probability").
    // A plan sent to be applied (`Fields::OnlyKnown`) may hold no other field: a
    // misspelt "probabilty" would apply the fault every time, a misspelt "step"
    // clear the plan. A plan read back from a server (`Fields::IgnoreUnknown`)
    // may carry fields of a newer version.
    enum class Fields { OnlyKnown, IgnoreUnknown };
    static std::optional<FaultPlan> fromJson(const QJsonObject &json, QString *field, QString *error,
                                             Fields fields = Fields::OnlyKnown);
    // The first FAIL whose code faultCodeProblem() refuses: false, naming its field
    // ("steps.Payment Processing.errorCode") and why. A plan built in the process
    // (the embedded engine's) is checked so, as fromJson() checks one sent.
    bool checkCodes(QString *field, QString *error) const;
};
