#pragma once

#include "statusicons.h"

#include <QStyledItemDelegate>

// Paints the status columns of the order tree (OrderTreeModel roles only):
// - StatusColumn: the icon of RawStatusRole (overall status on order rows,
//   step status on step rows) and the status text;
// - ProgressColumn on order rows: a strip of the three step icons from
//   StepStatusesRole, joined like a stepper, then the percentage;
// - EtaColumn on order rows: the ETA in the warning colour when IsLateRole.
// Everything else is left to QStyledItemDelegate.
class StepStatusDelegate : public QStyledItemDelegate
{
    Q_OBJECT
public:
    static constexpr int kIconSize = 16;
    static constexpr int kStripSpacing = 6;

    explicit StepStatusDelegate(QObject *parent = nullptr);

    void paint(QPainter *painter, const QStyleOptionViewItem &option,
               const QModelIndex &index) const override;
    QSize sizeHint(const QStyleOptionViewItem &option, const QModelIndex &index) const override;

    // What paint() draws for `index`: the status icon name ("" when the cell has
    // none) and the names of the strip's icons (empty when the cell has no strip).
    static QString iconNameFor(const QModelIndex &index);
    static QStringList stripIconNamesFor(const QModelIndex &index);
    // Where the strip's icons are drawn inside `cell` (for tests and hit testing).
    static QRect stripIconRect(const QRect &cell, int step);
    static QRect statusIconRect(const QRect &cell);

    static QColor lateColor();

    // The width an order row's cell in `column` of `view` needs to show `text`
    // whole, as paint() draws it: with the status icon, after the step strip, in
    // bold for a late ETA. For default column widths from the font in use.
    static int orderCellWidth(const QWidget *view, int column, const QString &text);

private:
    void paintStatus(QPainter *painter, const QStyleOptionViewItem &opt, const QModelIndex &index) const;
    void paintStrip(QPainter *painter, const QStyleOptionViewItem &opt, const QModelIndex &index) const;
    void paintBackground(QPainter *painter, QStyleOptionViewItem &opt) const;

    mutable StatusIconCache m_icons;
};
