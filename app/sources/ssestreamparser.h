#pragma once

// Incremental parser of a text/event-stream (WHATWG HTML, "Server-sent events"):
// feed it whatever bytes arrived; it returns the events completed so far and
// keeps the incomplete rest for the next call. Handles LF, CRLF and CR line
// ends, comments (heartbeats), multi-line data, `id`, `event` and `retry`.

#include <QByteArray>
#include <QString>
#include <QVector>

struct SseEvent {
    QString id;         // last event id in effect when the event was dispatched
    QString event;      // "message" when the stream named none
    QByteArray data;    // data lines joined with '\n'
};

class SseStreamParser
{
public:
    // An event (its unfinished line and data) may hold this much; past it the
    // parser stops (overflowed()) instead of buffering without bound.
    static constexpr qsizetype kMaxEventBytes = 4 * 1024 * 1024;

    QVector<SseEvent> feed(const QByteArray &bytes);
    void reset();
    bool overflowed() const { return m_overflowed; } // until reset()

    QString lastEventId() const { return m_lastEventId; }
    int retryMs() const { return m_retryMs; } // -1 when the server sent none
    int commentCount() const { return m_comments; }

private:
    void processLine(const QByteArray &line, QVector<SseEvent> &out);

    QByteArray m_buffer;
    QByteArray m_data;
    QString m_eventType;
    QString m_lastEventId;
    bool m_hasData = false;
    bool m_pendingCr = false;
    bool m_overflowed = false;
    int m_retryMs = -1;
    int m_comments = 0;
};
