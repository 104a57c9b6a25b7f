#include "globalsequencer.h"

#include "sagalog.h"

GlobalSequencer::GlobalSequencer(int maxPending)
    : m_maxPending(qMax(1, maxPending))
{
}

void GlobalSequencer::anchor(qint64 lastPosition)
{
    m_last = qMax<qint64>(0, lastPosition);
    m_pending.erase(m_pending.begin(), m_pending.upper_bound(m_last));
}

bool GlobalSequencer::wants(qint64 position) const
{
    return position > 0 && (m_last < 0 || position > m_last) && m_pending.count(position) == 0;
}

void GlobalSequencer::push(qint64 position, const QByteArray &frame, QVector<Item> &out)
{
    if (position <= 0) { // no position known: cannot be ordered, pass on as is
        out.append(Item{position, frame});
        return;
    }
    if (m_last < 0)
        m_last = position - 1;
    if (position <= m_last)
        return; // duplicate
    m_pending.emplace(position, frame);
    drain(out);
    if (int(m_pending.size()) > m_maxPending) {
        // Should not happen (the feed fills every gap); never hold memory without bound.
        ++m_skippedGaps;
        qCWarning(lcServer) << "all-orders stream: positions" << m_last + 1 << "to" << m_pending.begin()->first - 1
                            << "never arrived; skipping them";
        m_last = m_pending.begin()->first - 1;
        drain(out);
    }
}

void GlobalSequencer::drain(QVector<Item> &out)
{
    auto it = m_pending.begin();
    while (it != m_pending.end() && it->first <= m_last + 1) {
        if (it->first == m_last + 1) {
            out.append(Item{it->first, std::move(it->second)});
            m_last = it->first;
        }
        it = m_pending.erase(it);
    }
}
