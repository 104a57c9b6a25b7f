#pragma once

#include "etaestimator.h"
#include "orderprogress.h"

#include <QAbstractItemModel>
#include <QHash>
#include <QUuid>
#include <functional>
#include <memory>
#include <vector>

class OrderTreeNode;

// Orders at the top level, their three steps as children.
//
// Columns of an order row: order number, customer, overall status, current step,
// progress, last updated, ETA. Columns of a step row (same positions): step name,
// (empty), step status, error, duration, started/completed, (empty).
//
// Indexes: order rows carry internalPointer() == nullptr; step rows carry the
// OrderTreeNode* of their order and row == int(SagaStep). Steps are not separate
// allocations (see ordertreenode.h).
//
// Touched only from the thread it lives in. Applying events emits dataChanged only
// for the cells and roles that changed; new orders are inserted with
// beginInsertRows; a batch inserts all its new orders in one block.
class OrderTreeModel : public QAbstractItemModel
{
    Q_OBJECT
public:
    enum Column {
        OrderNumberColumn = 0, // step rows: step name
        CustomerColumn,        // step rows: empty
        StatusColumn,          // step rows: step status
        CurrentStepColumn,     // step rows: error message
        ProgressColumn,        // step rows: duration
        LastUpdatedColumn,     // step rows: completed at (or started at while running)
        EtaColumn,             // step rows: empty
        ColumnCount
    };
    Q_ENUM(Column)

    // Custom roles. Every one is valid on column 0 and on the column it describes.
    enum Role {
        RawStatusRole = Qt::UserRole + 1, // int: OverallStatus (order rows) or StepStatus (step rows)
        IsStepRole,          // bool: true on step rows
        OrderIdRole,         // QUuid of the order (both levels)
        StepRole,            // int: SagaStep (step rows), -1 on order rows
        ProgressRole,        // int 0..100 (order rows)
        EtaRole,             // QDateTime UTC, invalid when terminal (order rows)
        IsLateRole,          // bool: now is past the p95 estimate (order rows)
        ErrorCodeRole,       // QString: failure code (order: saga failure; step: step error)
        ErrorMessageRole,    // QString
        StepStatusesRole,    // QVariantList of 3 ints (StepStatus) for the icon strip (order rows)
        TimestampRole,       // QDateTime UTC of the cell (last updated / started / completed)
        SortRole,            // value suited for sorting the column
        SearchTextRole,      // QString: order id, number, customer, status, failure code and message, for filtering
        CustomerIdRole,      // QUuid
    };
    Q_ENUM(Role)

    explicit OrderTreeModel(QObject *parent = nullptr);
    ~OrderTreeModel() override;

    // QAbstractItemModel
    QModelIndex index(int row, int column, const QModelIndex &parent = {}) const override;
    QModelIndex parent(const QModelIndex &child) const override;
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

    // Applies events as one batch: new orders inserted in one block, one
    // dataChanged per changed row (cells spanning the changed columns, with the
    // union of changed roles). Events that cannot apply are reported through
    // eventRejected and leave the order untouched.
    void applyEvents(const QVector<OrderEvent> &events);
    void applyEvent(const OrderEvent &event);
    // Replaces or inserts whole snapshots (e.g. loaded from a list endpoint);
    // later events with seq <= snapshot.lastSeq are duplicates. An order not
    // finished gets its ETA as if its last event had just been applied.
    void loadSnapshots(const QVector<OrderProgress> &snapshots);
    // Feeds the ETA estimator stored step durations (newest first) and estimates
    // the orders not finished again with them.
    void seedEta(const QVector<QPair<SagaStep, qint64>> &newestFirst);
    void clear();

    int orderCount() const;
    const OrderProgress *order(const QUuid &orderId) const;
    const OrderProgress *orderAt(const QModelIndex &index) const; // order of an order or step row
    // The text of an order row's OrderNumberColumn (DisplayRole and SortRole):
    // the order number, or the order id while the number is not known.
    static QString orderNumberText(const OrderProgress &order);
    QModelIndex indexOf(const QUuid &orderId, int column = 0) const;

    EtaEstimator &eta() { return m_eta; }
    const EtaEstimator &eta() const { return m_eta; }

    // Times are shown in UTC (default) or local time.
    void setDisplayUtc(bool utc);
    bool displayUtc() const { return m_displayUtc; }
    // The clock used for lateness (tests inject a fixed one).
    void setClock(std::function<QDateTime()> clock);

Q_SIGNALS:
    void eventRejected(const OrderEvent &event, const QString &reason);
    void ordersInserted(int count);

private:
    // An order row changed by the current batch, with its state before the batch,
    // so the emitted dataChanged names exactly the cells and roles that differ.
    struct Touch {
        OrderTreeNode *node = nullptr;
        OrderProgress before;
        ChangeSet changes;
    };
    void emitChanges(const Touch &touch);
    void estimateFromLastEvent(OrderProgress &progress) const;
    QDateTime now() const;

    QVariant orderData(const OrderTreeNode &node, int column, int role) const;
    QVariant stepData(const OrderTreeNode &node, SagaStep step, int column, int role) const;
    QString formatTime(const QDateTime &utc) const;

    std::vector<std::unique_ptr<OrderTreeNode>> m_orders;
    QHash<QUuid, OrderTreeNode *> m_byId;
    EtaEstimator m_eta;
    bool m_displayUtc = true;
    std::function<QDateTime()> m_clock;
    std::vector<Touch> m_touches; // reused between batches (no allocation per batch)
    size_t m_touchCount = 0;
};
