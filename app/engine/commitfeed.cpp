#include "commitfeed.h"

#include <QMutexLocker>
#include <algorithm>

CommitFeed::CommitFeed(int committers, int maxBatch, int minSplit)
    : m_committers(size_t(std::max(1, committers)))
    , m_maxBatch(std::max(1, maxBatch))
    , m_minSplit(std::max(1, minSplit))
{
}

void CommitFeed::append(quint64 firstTicket, std::vector<Item> items)
{
    QMutexLocker lock(&m_mutex);
    if (m_items.empty())
        m_frontTicket = firstTicket;
    Q_ASSERT(m_frontTicket + m_items.size() == firstTicket);
    for (Item &item : items)
        m_items.push_back(std::move(item));
}

std::vector<int> CommitFeed::wake()
{
    std::vector<int> wake;
    QMutexLocker lock(&m_mutex);
    if (m_items.empty())
        return wake;
    // One committer per minSplit waiting items, counting those already on their way.
    const size_t wanted = (m_items.size() + size_t(m_minSplit) - 1) / size_t(m_minSplit);
    size_t active = 0;
    for (const Committer &c : m_committers)
        active += (!c.broken && c.state != State::Idle) ? 1 : 0;
    for (size_t i = 0; i < m_committers.size() && active < wanted; ++i) {
        Committer &c = m_committers[i];
        if (c.broken || c.state != State::Idle)
            continue;
        c.state = State::Woken;
        wake.push_back(int(i));
        ++active;
    }
    return wake;
}

int CommitFeed::withdraw()
{
    QMutexLocker lock(&m_mutex);
    const int n = int(m_items.size());
    m_items.clear();
    return n;
}

bool CommitFeed::take(int committer, QVector<StoreTransition> *batch, quint64 *firstTicket)
{
    batch->clear();
    QMutexLocker lock(&m_mutex);
    Committer &self = m_committers[size_t(committer)];
    if (self.broken || m_items.empty()) {
        self.state = State::Idle;
        return false;
    }
    // Share what waits with the committers woken for it.
    size_t peers = 0;
    for (size_t i = 0; i < m_committers.size(); ++i)
        peers += (int(i) != committer && !m_committers[i].broken && m_committers[i].state == State::Woken) ? 1 : 0;
    const size_t waiting = m_items.size();
    size_t n = (waiting + peers) / (peers + 1);
    n = std::min(std::max(n, size_t(m_minSplit)), size_t(m_maxBatch));
    n = std::min(n, waiting);
    while (n < waiting && m_items[n - 1].chainsNext)
        ++n; // a saga's chained transitions share one batch
    batch->reserve(int(n));
    for (size_t i = 0; i < n; ++i) {
        batch->append(std::move(m_items.front().transition));
        m_items.pop_front();
    }
    *firstTicket = m_frontTicket;
    m_frontTicket += n;
    self.state = State::Committing;
    int committing = 0;
    for (const Committer &c : m_committers)
        committing += c.state == State::Committing ? 1 : 0;
    m_maxCommitting = std::max(m_maxCommitting, committing);
    return true;
}

void CommitFeed::broke(int committer)
{
    QMutexLocker lock(&m_mutex);
    Committer &c = m_committers[size_t(committer)];
    c.broken = true;
    c.state = State::Idle;
}

void CommitFeed::repaired(int committer)
{
    QMutexLocker lock(&m_mutex);
    m_committers[size_t(committer)].broken = false;
}

int CommitFeed::maxCommitting() const
{
    QMutexLocker lock(&m_mutex);
    return m_maxCommitting;
}
