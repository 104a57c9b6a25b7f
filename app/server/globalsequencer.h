#pragma once

#include <QByteArray>
#include <QVector>
#include <map>

// Puts all-orders stream frames in position order. Positions are consecutive
// (one counter row, taken in the committing transaction), but the events of this
// process arrive at once while another process's arrive later through the event
// feed: a frame whose predecessor has not arrived yet waits here until it does
// (the feed is gap-free, also across reconnects), and a position that was
// already passed on is a duplicate and dropped.
//
// Not anchored (the last position unknown): the first frame anchors it.
class GlobalSequencer
{
public:
    struct Item {
        qint64 position = 0;
        QByteArray frame;
    };

    explicit GlobalSequencer(int maxPending = 100000);

    // Everything at or below `lastPosition` is old.
    void anchor(qint64 lastPosition);
    bool isAnchored() const { return m_last >= 0; }
    // Highest position passed on (-1 before the anchor).
    qint64 last() const { return m_last; }
    // Whether a frame for `position` is still wanted (neither passed on nor waiting).
    bool wants(qint64 position) const;
    // Adds one frame and appends every frame now in order to `out`.
    void push(qint64 position, const QByteArray &frame, QVector<Item> &out);
    int pending() const { return int(m_pending.size()); }
    quint64 skippedGaps() const { return m_skippedGaps; }

private:
    void drain(QVector<Item> &out);

    int m_maxPending;
    qint64 m_last = -1;
    quint64 m_skippedGaps = 0;
    std::map<qint64, QByteArray> m_pending;
};
