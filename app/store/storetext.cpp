#include "storetext.h"

#include <array>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocale>
#include <QStringEncoder>

namespace StoreText {

QString idText(const QUuid &id)
{
    return id.toString(QUuid::WithoutBraces);
}

QDateTime fromMs(const QVariant &v)
{
    if (v.isNull())
        return {};
    return QDateTime::fromMSecsSinceEpoch(v.toLongLong(), Qt::UTC);
}

qint64 toMs(const QDateTime &dt)
{
    return dt.isValid() ? dt.toMSecsSinceEpoch() : QDateTime::currentMSecsSinceEpoch();
}

bool isTerminalOverall(OverallStatus s)
{
    return s == OverallStatus::Completed || s == OverallStatus::Failed || s == OverallStatus::RolledBack;
}

QString outcomeFor(OverallStatus s)
{
    switch (s) {
    case OverallStatus::Completed:
        return QStringLiteral("SUCCESS");
    case OverallStatus::RolledBack:
        return QStringLiteral("COMPENSATED");
    case OverallStatus::Failed:
        return QStringLiteral("FAILED");
    default:
        return QStringLiteral("IN_PROGRESS");
    }
}

QString overallText(OverallStatus s)
{
    switch (s) {
    case OverallStatus::Queued: return QStringLiteral("QUEUED");
    case OverallStatus::InProgress: return QStringLiteral("IN_PROGRESS");
    case OverallStatus::Completed: return QStringLiteral("COMPLETED");
    case OverallStatus::Failed: return QStringLiteral("FAILED");
    case OverallStatus::RollingBack: return QStringLiteral("ROLLING_BACK");
    case OverallStatus::RolledBack: return QStringLiteral("ROLLED_BACK");
    }
    return {};
}

QString recordText(OverallStatus s)
{
    switch (s) {
    case OverallStatus::Queued: return QStringLiteral("PENDING");
    case OverallStatus::InProgress: return QStringLiteral("PROCESSING");
    case OverallStatus::Completed: return QStringLiteral("COMPLETED");
    case OverallStatus::Failed: return QStringLiteral("FAILED");
    case OverallStatus::RollingBack: return QStringLiteral("COMPENSATING");
    case OverallStatus::RolledBack: return QStringLiteral("COMPENSATED");
    }
    return {};
}

namespace {

// The UTF-8 of each of an enum's `Count` values (numbered from 0), made once.
template<typename Enum, int Count, typename Text>
QByteArray utf8Name(Enum e, Text text)
{
    static const std::array<QByteArray, Count> names = [&text] {
        std::array<QByteArray, Count> a;
        for (int i = 0; i < Count; ++i)
            a[size_t(i)] = text(Enum(i)).toUtf8();
        return a;
    }();
    const QByteArray &name = names[size_t(e)];
    return QByteArray::fromRawData(name.constData(), name.size());
}

} // namespace

QByteArray overallUtf8(OverallStatus s)
{
    return utf8Name<OverallStatus, kOverallStatusCount>(s, [](OverallStatus v) { return overallText(v); });
}

QByteArray stepStatusUtf8(StepStatus s)
{
    return utf8Name<StepStatus, kStepStatusCount>(s, [](StepStatus v) { return stepStatusText(v); });
}

QByteArray stepNameUtf8(SagaStep s)
{
    return utf8Name<SagaStep, kStepCount>(s, [](SagaStep v) { return stepDisplayName(v); });
}

QByteArray eventTypeUtf8(EventType t)
{
    return utf8Name<EventType, kEventTypeCount>(t, [](EventType v) { return toString(v); });
}

QString stepStatusText(StepStatus s)
{
    switch (s) {
    case StepStatus::Pending: return QStringLiteral("PENDING");
    case StepStatus::InProgress: return QStringLiteral("IN_PROGRESS");
    case StepStatus::Completed: return QStringLiteral("COMPLETED");
    case StepStatus::Failed: return QStringLiteral("FAILED");
    case StepStatus::Compensating: return QStringLiteral("COMPENSATING");
    case StepStatus::Compensated: return QStringLiteral("COMPENSATED");
    case StepStatus::Skipped: return QStringLiteral("SKIPPED");
    }
    return {};
}

std::optional<OverallStatus> overallFromText(const QString &t)
{
    for (int i = 0; i < kOverallStatusCount; ++i) {
        if (overallText(OverallStatus(i)) == t)
            return OverallStatus(i);
    }
    return std::nullopt;
}

namespace {

void appendJsonString(QByteArray &out, QStringView s)
{
    const char16_t *c = s.utf16();
    const qsizetype n = s.size();
    // Most text (ids, codes, names) is printable ASCII without quotes or
    // backslashes: written in one pass into room made for it at once; the first
    // character that needs more sends the rest through the general loop below.
    const qsizetype start = out.size();
    out.resize(start + n + 2);
    char *w = out.data() + start;
    *w++ = '"';
    qsizetype i = 0;
    for (; i < n; ++i) {
        const char16_t u = c[i];
        if (u < 0x20 || u >= 0x80 || u == '"' || u == '\\')
            break;
        *w++ = char(u);
    }
    if (i == n) {
        *w = '"';
        return;
    }
    out.truncate(w - out.constData());
    while (i < n) {
        const char16_t u = c[i];
        if (u >= 0x80) { // a run of non-ASCII code units (surrogate pairs stay together), through the codec
            qsizetype end = i + 1;
            while (end < n && c[end] >= 0x80)
                ++end;
            out += s.mid(i, end - i).toUtf8();
            i = end;
            continue;
        }
        ++i;
        if (u >= 0x20 && u != '"' && u != '\\') {
            out += char(u);
            continue;
        }
        out += '\\';
        switch (u) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '\b': out += 'b'; break;
        case '\f': out += 'f'; break;
        case '\n': out += 'n'; break;
        case '\r': out += 'r'; break;
        case '\t': out += 't'; break;
        default: {
            static const char hex[] = "0123456789abcdef";
            const char escaped[] = {'u', '0', '0', hex[u >> 4], hex[u & 0xf]};
            out.append(escaped, sizeof escaped);
        }
        }
    }
    out += '"';
}

void appendJsonValue(QByteArray &out, const QJsonValue &v)
{
    switch (v.type()) {
    case QJsonValue::Bool:
        out += v.toBool() ? "true" : "false";
        break;
    case QJsonValue::Double: {
        const qint64 i = v.toInteger(); // 0 unless the value is integral
        const double d = v.toDouble();
        if (i != 0 || d == 0)
            out += QByteArray::number(i);
        else if (qIsFinite(d))
            out += QByteArray::number(d, 'g', QLocale::FloatingPointShortest);
        else
            out += "null";
        break;
    }
    case QJsonValue::String:
        appendJsonString(out, v.toString());
        break;
    case QJsonValue::Array: {
        out += '[';
        bool first = true;
        for (const QJsonValue &e : v.toArray()) {
            if (!first)
                out += ',';
            first = false;
            appendJsonValue(out, e);
        }
        out += ']';
        break;
    }
    case QJsonValue::Object:
        appendJson(out, v.toObject());
        break;
    case QJsonValue::Null:
    case QJsonValue::Undefined:
        out += "null";
        break;
    }
}

void appendMember(QByteArray &out, bool &first, QStringView key, const QJsonValue &value)
{
    if (!first)
        out += ',';
    first = false;
    appendJsonString(out, key);
    out += ':';
    appendJsonValue(out, value);
}

} // namespace

void appendJson(QByteArray &out, const QJsonObject &o)
{
    out += '{';
    bool first = true;
    for (auto it = o.begin(); it != o.end(); ++it)
        appendMember(out, first, it.key(), it.value());
    out += '}';
}

char *writeUtf8(char *out, QStringView s)
{
    QStringEncoder encoder(QStringEncoder::Utf8, QStringConverter::Flag::Stateless);
    return encoder.appendToBuffer(out, s);
}

QByteArray eventDetailsJson(const OrderEvent &e)
{
    QByteArray out;
    out.reserve(256);
    if (e.error.isNull()) {
        appendJson(out, e.details);
        return out;
    }
    // The error goes in as the object "error", at its place among the sorted keys
    // (as QJsonObject::insert would put it), replacing any "error" of the details.
    static const QString errorKey = QStringLiteral("error");
    const QJsonObject error{{QStringLiteral("code"), e.error.code}, {QStringLiteral("message"), e.error.message}};
    out += '{';
    bool first = true;
    bool written = false;
    for (auto it = e.details.begin(); it != e.details.end(); ++it) {
        const QString key = it.key();
        if (!written && key >= errorKey) {
            appendMember(out, first, errorKey, error);
            written = true;
        }
        if (key != errorKey)
            appendMember(out, first, key, it.value());
    }
    if (!written)
        appendMember(out, first, errorKey, error);
    out += '}';
    return out;
}

void setEventDetails(OrderEvent &e, const QByteArray &json)
{
    QJsonObject d = QJsonDocument::fromJson(json).object();
    e.error = ErrorInfo();
    if (d.contains(QLatin1String("error"))) {
        const QJsonObject err = d.take(QLatin1String("error")).toObject();
        e.error.code = err.value(QLatin1String("code")).toString();
        e.error.message = err.value(QLatin1String("message")).toString();
    }
    e.details = std::move(d);
}

} // namespace StoreText
