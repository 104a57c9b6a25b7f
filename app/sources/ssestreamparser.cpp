#include "ssestreamparser.h"

void SseStreamParser::reset()
{
    m_buffer.clear();
    m_data.clear();
    m_eventType.clear();
    m_hasData = false;
    m_pendingCr = false;
    m_overflowed = false;
    // The last event id survives a reset: it is what a reconnect sends.
}

QVector<SseEvent> SseStreamParser::feed(const QByteArray &bytes)
{
    QVector<SseEvent> out;
    if (m_overflowed)
        return out;
    const auto overflow = [this] {
        if (m_buffer.size() + m_data.size() <= kMaxEventBytes)
            return false;
        m_overflowed = true;
        m_buffer.clear();
        m_data.clear();
        return true;
    };
    qsizetype start = 0;
    for (qsizetype i = 0; i < bytes.size(); ++i) {
        const char c = bytes.at(i);
        if (m_pendingCr) {
            m_pendingCr = false;
            if (c == '\n') { // the LF of a CRLF already ended the line
                start = i + 1;
                continue;
            }
        }
        if (c == '\n' || c == '\r') {
            m_buffer.append(bytes.constData() + start, i - start);
            if (overflow())
                return out;
            // (A line adds to the event's data less than it held itself.)
            processLine(m_buffer, out);
            m_buffer.clear();
            m_pendingCr = (c == '\r');
            start = i + 1;
        }
    }
    m_buffer.append(bytes.constData() + start, bytes.size() - start);
    overflow();
    return out;
}

void SseStreamParser::processLine(const QByteArray &line, QVector<SseEvent> &out)
{
    if (line.isEmpty()) { // dispatch
        if (m_hasData) {
            SseEvent e;
            e.id = m_lastEventId;
            e.event = m_eventType.isEmpty() ? QStringLiteral("message") : m_eventType;
            e.data = m_data;
            out.append(std::move(e));
        }
        m_data.clear();
        m_eventType.clear();
        m_hasData = false;
        return;
    }
    if (line.startsWith(':')) {
        ++m_comments;
        return;
    }
    const qsizetype colon = line.indexOf(':');
    QByteArray field = colon < 0 ? line : line.left(colon);
    QByteArray value;
    if (colon >= 0) {
        value = line.mid(colon + 1);
        if (value.startsWith(' '))
            value.remove(0, 1);
    }
    if (field == "data") {
        if (m_hasData)
            m_data.append('\n');
        m_data.append(value);
        m_hasData = true;
    } else if (field == "event") {
        m_eventType = QString::fromUtf8(value);
    } else if (field == "id") {
        if (!value.contains('\0'))
            m_lastEventId = QString::fromUtf8(value);
    } else if (field == "retry") {
        bool ok = false;
        const int ms = value.toInt(&ok);
        if (ok && ms >= 0)
            m_retryMs = ms;
    }
}
