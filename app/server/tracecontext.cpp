#include "tracecontext.h"

#include <QRandomGenerator>

namespace {

bool isLowerHex(const QByteArray &text, qsizetype length)
{
    if (text.size() != length)
        return false;
    for (const char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

bool isAllZero(const QByteArray &text)
{
    for (const char c : text) {
        if (c != '0')
            return false;
    }
    return true;
}

QByteArray randomHex(int bytes)
{
    thread_local QRandomGenerator64 generator(QRandomGenerator::system()->generate64());
    QByteArray raw(bytes, Qt::Uninitialized);
    for (int i = 0; i < bytes; i += 8) {
        const quint64 value = generator.generate64();
        for (int j = 0; j < 8 && i + j < bytes; ++j)
            raw[i + j] = char((value >> (8 * j)) & 0xff);
    }
    QByteArray hex = raw.toHex();
    if (isAllZero(hex))
        hex[hex.size() - 1] = '1';
    return hex;
}

} // namespace

bool TraceContext::isValidTraceId(const QByteArray &hex)
{
    return isLowerHex(hex, 32) && !isAllZero(hex);
}

TraceContext TraceContext::start()
{
    TraceContext context;
    context.m_traceId = randomHex(16);
    context.m_spanId = randomHex(8);
    return context;
}

TraceContext TraceContext::continueOrStart(const QByteArray &traceparent)
{
    // version "-" trace-id "-" parent-id "-" trace-flags
    const QByteArray value = traceparent.trimmed();
    if (value.size() >= 55 && value[2] == '-' && value[35] == '-' && value[52] == '-') {
        const QByteArray version = value.left(2);
        const QByteArray traceId = value.mid(3, 32);
        const QByteArray parentId = value.mid(36, 16);
        const QByteArray flags = value.mid(53, 2);
        const bool versionOk = isLowerHex(version, 2) && version != "ff"
                               && (version != "00" || value.size() == 55);
        if (versionOk && isValidTraceId(traceId) && isLowerHex(parentId, 16) && !isAllZero(parentId)
            && isLowerHex(flags, 2)) {
            TraceContext context;
            context.m_traceId = traceId;
            context.m_spanId = randomHex(8);
            context.m_flags = flags;
            return context;
        }
    }
    return start();
}

QByteArray TraceContext::traceparent() const
{
    QByteArray out;
    out.reserve(55);
    out.append("00-").append(m_traceId).append('-').append(m_spanId).append('-').append(m_flags);
    return out;
}
