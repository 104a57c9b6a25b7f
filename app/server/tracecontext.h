#pragma once

#include <QByteArray>

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the trace a request
// belongs to. An incoming valid `traceparent` is continued (same trace id, a new
// span id for this server's work); otherwise a new trace starts.
class TraceContext
{
public:
    // Parses `traceparent`; starts a new trace when it is absent or invalid.
    static TraceContext continueOrStart(const QByteArray &traceparent);
    static TraceContext start();

    const QByteArray &traceId() const { return m_traceId; } // 32 lower-case hex
    const QByteArray &spanId() const { return m_spanId; }   // 16 lower-case hex
    // "00-<trace>-<span>-<flags>", the value of the response header.
    QByteArray traceparent() const;

    static bool isValidTraceId(const QByteArray &hex);

private:
    QByteArray m_traceId;
    QByteArray m_spanId;
    QByteArray m_flags = QByteArrayLiteral("01");
};
