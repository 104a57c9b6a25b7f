#include "sseencoder.h"

QByteArray SseEncoder::event(const QByteArray &id, const QByteArray &event, const QByteArray &data)
{
    QByteArray out;
    out.reserve(32 + id.size() + event.size() + data.size());
    const auto field = [&out](const char *name, const QByteArray &value) {
        if (value.isEmpty())
            return;
        out.append(name);
        if (value.contains('\n') || value.contains('\r')) {
            QByteArray line = value;
            out.append(line.replace('\n', QByteArray()).replace('\r', QByteArray()));
        } else {
            out.append(value);
        }
        out.append('\n');
    };
    field("id: ", id);
    field("event: ", event);
    qsizetype start = 0;
    for (;;) {
        const qsizetype nl = data.indexOf('\n', start);
        QByteArray line = data.mid(start, nl < 0 ? -1 : nl - start);
        line.replace('\r', QByteArray());
        out.append("data: ").append(line).append('\n');
        if (nl < 0)
            break;
        start = nl + 1;
    }
    out.append('\n');
    return out;
}

QByteArray SseEncoder::retry(int milliseconds)
{
    return QByteArray("retry: ") + QByteArray::number(milliseconds) + "\n\n";
}

QByteArray SseEncoder::heartbeat()
{
    return QByteArrayLiteral(":\n\n");
}

QByteArray SseEncoder::comment(const QByteArray &text)
{
    QByteArray clean = text;
    clean.replace('\n', ' ').replace('\r', ' ');
    return QByteArray(": ") + clean + "\n\n";
}
