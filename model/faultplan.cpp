#include "faultplan.h"

#include "failurecatalog.h"
#include "sagajson.h"

#include <cmath>

namespace {
constexpr const char *kKindNames[] = {"NONE", "FAIL", "DELAY", "TIMEOUT", "FAIL_COMPENSATION"};
constexpr int kKindCount = 5;
constexpr int kMaxDelayMs = 600000;

// Business codes and the step that answers them (the failure triggers' codes).
struct StepCode {
    const char *code;
    SagaStep step;
};
constexpr StepCode kStepCodes[] = {
    {"INVENTORY_UNAVAILABLE", SagaStep::Inventory}, {"PAYMENT_DECLINED", SagaStep::Payment},
    {"FRAUD_DETECTED", SagaStep::Payment},          {"INVALID_ADDRESS", SagaStep::Shipping},
    {"SHIPPING_UNAVAILABLE", SagaStep::Shipping},
};

bool sameCode(const QString &code, const char *name)
{
    return code.compare(QLatin1String(name), Qt::CaseInsensitive) == 0;
}
} // namespace

QStringList suggestedFaultCodes(SagaStep step)
{
    QStringList codes;
    for (const StepCode &c : kStepCodes) {
        if (c.step == step)
            codes.append(QString::fromLatin1(c.code));
    }
    codes.append(QStringLiteral("SERVICE_UNAVAILABLE"));
    return codes;
}

QString faultCodeProblem(SagaStep step, const QString &code)
{
    const QString allowed = QStringLiteral("fail %1 with %2 or a code of your own")
                                .arg(stepDisplayName(step), suggestedFaultCodes(step).join(QStringLiteral(", ")));
    if (sameCode(code, "STEP_TIMEOUT"))
        return QStringLiteral("STEP_TIMEOUT is the engine's own code: for a step that does not answer use kind "
                              "TIMEOUT, or %1")
            .arg(allowed);
    if (isEngineVerdict(code))
        return QStringLiteral("%1 is the engine's own code, not a step's answer: %2").arg(code.toUpper(), allowed);
    for (const StepCode &c : kStepCodes) {
        if (c.step != step && sameCode(code, c.code))
            return QStringLiteral("%1 is %2's code: %3").arg(QString::fromLatin1(c.code), stepDisplayName(c.step), allowed);
    }
    return {};
}

bool FaultPlan::checkCodes(QString *field, QString *error) const
{
    for (SagaStep s : kAllSteps) {
        const StepFault &f = (*this)[s];
        if (f.kind != StepFault::Kind::Fail)
            continue;
        const QString problem = faultCodeProblem(s, f.errorCode);
        if (problem.isEmpty())
            continue;
        if (field)
            *field = QStringLiteral("steps.%1.errorCode").arg(stepDisplayName(s));
        if (error)
            *error = problem;
        return false;
    }
    return true;
}

QString toString(StepFault::Kind kind)
{
    const int i = int(kind);
    return (i >= 0 && i < kKindCount) ? QString::fromLatin1(kKindNames[i]) : QString();
}

std::optional<StepFault::Kind> stepFaultKindFromString(QStringView text)
{
    for (int i = 0; i < kKindCount; ++i) {
        if (text == QLatin1String(kKindNames[i]))
            return StepFault::Kind(i);
    }
    return std::nullopt;
}

bool FaultPlan::isEmpty() const
{
    for (const StepFault &f : steps) {
        if (f.kind != StepFault::Kind::None)
            return false;
    }
    return true;
}

QJsonObject FaultPlan::toJson() const
{
    QJsonObject stepsJson;
    for (SagaStep s : kAllSteps) {
        const StepFault &f = (*this)[s];
        QJsonObject o;
        o.insert(QStringLiteral("kind"), toString(f.kind));
        o.insert(QStringLiteral("errorCode"), f.errorCode);
        o.insert(QStringLiteral("delayMs"), f.delayMs);
        o.insert(QStringLiteral("probability"), f.probability);
        o.insert(QStringLiteral("once"), f.once);
        stepsJson.insert(stepDisplayName(s), o);
    }
    QJsonObject root;
    root.insert(QStringLiteral("steps"), stepsJson);
    return root;
}

std::optional<FaultPlan> FaultPlan::fromJson(const QJsonObject &json, QString *field, QString *error, Fields fields)
{
    const auto fail = [&](const QString &f, const QString &e) -> std::optional<FaultPlan> {
        if (field)
            *field = f;
        if (error)
            *error = e;
        return std::nullopt;
    };
    // A field of `o` none of `keys` (as an order's are refused): empty when none, or
    // when the plan may carry fields of a newer version.
    QString problem;
    const auto unknownField = [fields, &problem](const QJsonObject &o, std::initializer_list<const char *> keys,
                                                 const char *what) {
        return fields == Fields::IgnoreUnknown ? QString() : SagaJson::unknownField(o, keys, what, &problem);
    };
    if (const QString key = unknownField(json, {"steps"}, "a fault plan"); !key.isEmpty())
        return fail(key, problem);
    FaultPlan plan;
    const QJsonValue stepsValue = json.value(QLatin1String("steps"));
    if (stepsValue.isUndefined() || stepsValue.isNull())
        return plan; // no faults
    if (!stepsValue.isObject())
        return fail(QStringLiteral("steps"), QStringLiteral("must be an object keyed by step name"));
    const QJsonObject stepsJson = stepsValue.toObject();
    for (auto it = stepsJson.begin(); it != stepsJson.end(); ++it) {
        const QString base = QStringLiteral("steps.") + it.key();
        const auto step = stepFromName(it.key());
        if (!step)
            return fail(base, QStringLiteral("unknown step name"));
        if (!it.value().isObject())
            return fail(base, QStringLiteral("must be an object"));
        const QJsonObject o = it.value().toObject();
        if (const QString key =
                unknownField(o, {"kind", "errorCode", "delayMs", "probability", "once"}, "a step's fault");
            !key.isEmpty())
            return fail(base + QLatin1Char('.') + key, problem);
        StepFault f;
        const QJsonValue kind = o.value(QLatin1String("kind"));
        if (!kind.isUndefined()) {
            const auto k = kind.isString() ? stepFaultKindFromString(kind.toString()) : std::nullopt;
            if (!k)
                return fail(base + QStringLiteral(".kind"),
                            QStringLiteral("must be one of NONE, FAIL, DELAY, TIMEOUT, FAIL_COMPENSATION"));
            f.kind = *k;
        }
        const QJsonValue code = o.value(QLatin1String("errorCode"));
        if (!code.isUndefined() && !code.isNull()) {
            if (!code.isString() || code.toString().size() > 64)
                return fail(base + QStringLiteral(".errorCode"),
                            QStringLiteral("must be a string of at most 64 characters"));
            if (const char *problem = SagaJson::textProblem(code.toString()))
                return fail(base + QStringLiteral(".errorCode"), QString::fromLatin1(problem));
            if (f.kind == StepFault::Kind::Fail) {
                if (const QString problem = faultCodeProblem(*step, code.toString()); !problem.isEmpty())
                    return fail(base + QStringLiteral(".errorCode"), problem);
            }
            f.errorCode = code.toString();
        }
        const QJsonValue delay = o.value(QLatin1String("delayMs"));
        if (!delay.isUndefined()) {
            const double d = delay.toDouble(-1);
            if (!delay.isDouble() || d < 0 || d > kMaxDelayMs || std::floor(d) != d)
                return fail(base + QStringLiteral(".delayMs"),
                            QStringLiteral("must be an integer between 0 and %1").arg(kMaxDelayMs));
            f.delayMs = int(d);
        }
        const QJsonValue probability = o.value(QLatin1String("probability"));
        if (!probability.isUndefined()) {
            const double p = probability.toDouble(-1);
            if (!probability.isDouble() || !(p >= 0.0 && p <= 1.0))
                return fail(base + QStringLiteral(".probability"),
                            QStringLiteral("must be a number between 0 and 1"));
            f.probability = p;
        }
        const QJsonValue once = o.value(QLatin1String("once"));
        if (!once.isUndefined()) {
            if (!once.isBool())
                return fail(base + QStringLiteral(".once"), QStringLiteral("must be true or false"));
            f.once = once.toBool();
        }
        plan[*step] = f;
    }
    return plan;
}
