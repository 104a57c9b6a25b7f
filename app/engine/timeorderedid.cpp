#include "timeorderedid.h"

#include <QDateTime>
#include <QRandomGenerator>
#include <QtEndian>

#include <mutex>

namespace {

std::mutex clockMutex;
qint64 lastMs = -1;
quint32 lastSequence = 0; // 12 bits

} // namespace

QUuid timeOrderedUuid(qint64 unixMs)
{
    quint32 sequence;
    {
        std::lock_guard<std::mutex> lock(clockMutex);
        if (unixMs > lastMs) {
            lastMs = unixMs;
            // Start each millisecond in the lower half so the sequence rarely runs out.
            lastSequence = QRandomGenerator::global()->bounded(0x800u);
        } else if (++lastSequence > 0xfffu) {
            // 2,048+ ids in one millisecond (or the clock went back): borrow the
            // next millisecond, as RFC 9562 allows, so ids keep increasing.
            ++lastMs;
            lastSequence = 0;
        }
        unixMs = lastMs;
        sequence = lastSequence;
    }
    uchar bytes[16];
    const quint64 ms = quint64(unixMs) & 0xffffffffffffULL;
    for (int i = 0; i < 6; ++i)
        bytes[i] = uchar(ms >> (8 * (5 - i)));
    bytes[6] = uchar(0x70 | (sequence >> 8)); // version 7
    bytes[7] = uchar(sequence & 0xff);
    const quint64 random = QRandomGenerator::global()->generate64();
    for (int i = 0; i < 8; ++i)
        bytes[8 + i] = uchar(random >> (8 * (7 - i)));
    bytes[8] = uchar(0x80 | (bytes[8] & 0x3f)); // RFC 4122 variant
    return QUuid::fromRfc4122(QByteArrayView(reinterpret_cast<const char *>(bytes), 16));
}

QUuid timeOrderedUuid()
{
    return timeOrderedUuid(QDateTime::currentMSecsSinceEpoch());
}
