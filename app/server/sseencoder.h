#pragma once

#include <QByteArray>

// Server-Sent Events framing (WHATWG HTML, "Server-sent events").
class SseEncoder
{
public:
    // "id: <id>\nevent: <event>\ndata: <line>\n...\n\n"; `data` may hold newlines
    // (each line becomes its own data: field), CR is dropped. `id` and `event` are
    // one line each: CR and LF in them are dropped (an event type read from the
    // database is passed on as stored, and must not end the event early).
    static QByteArray event(const QByteArray &id, const QByteArray &event, const QByteArray &data);
    static QByteArray retry(int milliseconds);    // "retry: N\n\n"
    static QByteArray heartbeat();                // ":\n\n" (a comment line)
    static QByteArray comment(const QByteArray &text);
};
