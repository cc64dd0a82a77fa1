"""The texts of the views of a recording (keys ``rec_*`` for figures, ``page_rec_*`` for the page),
part of the one catalogue: ``i18n`` merges them into ``CATALOGUE``."""

RECORDING = {
    # -- figures (render/layerstats.py) -----------------------------------------------------------
    "rec_step": {"en": "step", "ja": "ステップ"},
    "rec_model_layer": {"en": "(model)", "ja": "(モデル本体)"},
    "rec_loss_title": {"en": "Loss of the recorded run ({steps} steps, {status})",
                       "ja": "記録した学習の損失 ({steps} ステップ, {status})"},
    "rec_loss_label": {"en": "loss handed to rec.step", "ja": "rec.step に渡した損失"},
    "rec_loss_missing": {"en": "no loss at {n} of {steps} steps (rec.step(loss) was not called there)",
                         "ja": "{steps} ステップ中 {n} ステップは損失なし (rec.step(loss) が呼ばれていない)"},
    "rec_loss_none": {"en": "no loss was recorded: call rec.step(loss) after optimizer.step()",
                      "ja": "損失は記録されていない: optimizer.step() の後に rec.step(loss) を呼ぶ"},
    "rec_status_completed": {"en": "completed", "ja": "完了"},
    "rec_status_incomplete": {"en": "still running or stopped: what was flushed",
                              "ja": "実行中または中断: 書き出し済みの分"},
    "rec_status_error": {"en": "the loop raised an error", "ja": "ループがエラーで終了"},
    "rec_layers_title": {"en": "Per layer, over the steps: gradient norm and update/weight ratio",
                         "ja": "層ごとの推移: 勾配ノルムと 更新量/重み の比"},
    "rec_grad_norm": {"en": "gradient norm (log)", "ja": "勾配ノルム (対数)"},
    "rec_update_ratio": {"en": "update / weight (log)", "ja": "更新量 / 重み (対数)"},
    "rec_guide": {"en": "guide 1e-3", "ja": "目安 1e-3"},
    "rec_findings_none": {"en": "No warning: every layer has a gradient, no layer's median gradient norm is "
                                "below 1e-3 of the largest, none grew 100x, and the median update/weight "
                                "ratios lie in 1e-5..1e-2.",
                          "ja": "警告なし: どの層にも勾配があり、勾配ノルムの中央値が最大の層の 1e-3 倍を下回る層も、"
                                "100 倍に増えた層もなく、更新量/重み の中央値はすべて 1e-5..1e-2 にある。"},
    "rec_find_frozen": {"en": "{layer}: no gradient at any of the {value} steps (frozen or unused)",
                        "ja": "{layer}: {value} ステップのどこにも勾配がない (凍結または未使用)"},
    "rec_find_dead": {"en": "{layer}: dead, its gradient is exactly 0 in {value} of the steps",
                      "ja": "{layer}: 死んだ層、勾配がちょうど 0 のステップが {value}"},
    "rec_find_nonfinite": {"en": "{layer}: the gradient norm is not finite from step {value} (exploded)",
                           "ja": "{layer}: ステップ {value} で勾配ノルムが有限でない (発散)"},
    "rec_find_vanishing": {"en": "{layer}: vanishing gradient, median norm {value} times the largest layer's",
                           "ja": "{layer}: 勾配消失、ノルムの中央値が最大の層の {value} 倍"},
    "rec_find_exploding": {"en": "{layer}: exploding gradient, the norm over the last tenth of steps is "
                                 "{value} times that of the first tenth",
                           "ja": "{layer}: 勾配爆発、最後の 1/10 のステップのノルムが最初の 1/10 の {value} 倍"},
    "rec_find_exploding_early": {"en": "{layer}: early explosion, the gradient norm rose to {value} times its "
                                       "first step's by step {step}: the learning rate is likely too large at "
                                       "the start (a warm-up, or a smaller lr)",
                                 "ja": "{layer}: 序盤の勾配爆発、勾配ノルムがステップ {step} までに最初のステップの {value} 倍に"
                                       "なった: 始めの学習率が大きすぎる可能性 (ウォームアップか、より小さな学習率を)"},
    "rec_find_ratio_large": {"en": "{layer}: median update/weight {value}, over 10x the guide 1e-3: "
                                   "the learning rate may be too large",
                             "ja": "{layer}: 更新量/重み の中央値 {value}、目安 1e-3 の 10 倍超: 学習率が大きすぎる可能性"},
    "rec_find_ratio_small": {"en": "{layer}: median update/weight {value}, under 1e-5: the layer hardly moves "
                                   "(learning rate too small?)",
                             "ja": "{layer}: 更新量/重み の中央値 {value}、1e-5 未満: 層がほとんど動かない (学習率が小さすぎる?)"},
    "rec_dist_weights_title": {"en": "Weights per layer at every snapshot ({n} states: {first}..{last})",
                               "ja": "スナップショットごとの層の重み ({n} 状態: {first}..{last})"},
    "rec_dist_grads_title": {"en": "Gradients per layer at every snapshot ({n} states: {first}..{last})",
                             "ja": "スナップショットごとの層の勾配 ({n} 状態: {first}..{last})"},
    "rec_dist_value": {"en": "value", "ja": "値"},
    "rec_dist_median": {"en": "median", "ja": "中央値"},
    "rec_dist_iqr": {"en": "25-75%", "ja": "25-75%"},
    "rec_dist_90": {"en": "5-95%", "ja": "5-95%"},
    "rec_dist_range": {"en": "min, max", "ja": "最小, 最大"},
    "rec_dist_layer": {"en": "{layer} ({n} numbers)", "ja": "{layer} ({n} 個)"},
    "rec_dist_no_last_grad": {"en": "The last state ({step}) has no gradient: no step was taken from it.",
                              "ja": "最後の状態 ({step}) には勾配がない: そこからステップは取られていない。"},
    "rec_dist_more_layers": {"en": "{shown} of {total} layers shown (the first and the last ones)",
                             "ja": "{total} 層のうち {shown} 層を表示 (最初と最後の層)"},
    "rec_path_title_snapshots": {"en": "Path of the {n} snapshots on their PCA plane",
                                 "ja": "{n} 個のスナップショットの PCA 平面上の経路"},
    "rec_path_title_projection": {"en": "Path of all {n} states on the PCA plane of their random projection "
                                        "(k = {k}; fewer than 3 snapshots)",
                                  "ja": "全 {n} 状態の経路 (ランダム射影 k = {k} の PCA 平面; スナップショットが 3 未満)"},
    "rec_pc": {"en": "PC{n} ({share} of the variance)", "ja": "第{n}主成分 (分散の {share})"},
    "rec_value_scaled": {"en": "value / the layer's scale (±, in its label)", "ja": "値 / 層の目盛 (ラベルの ±)"},
    "rec_snapshot_mark": {"en": "snapshot {step}", "ja": "スナップショット {step}"},
    "rec_step_mark": {"en": "step {step}", "ja": "ステップ {step}"},
    # -- the page (web/packrec.py, static/views/layers.js, dists.js, snappath.js) -------------------
    "page_view_layers": {"en": "Per-layer gradient norm and update/weight", "ja": "層ごとの勾配ノルムと 更新量/重み"},
    "page_view_dists": {"en": "Weights and gradients per layer", "ja": "層ごとの重みと勾配の分布"},
    "page_view_snappath": {"en": "Path on the PCA plane", "ja": "PCA 平面上の経路"},
    "page_rec_run_line": {"en": "your model ({params} parameters, {layers} layers) · {optimizer} · {steps} steps · {status}",
                          "ja": "あなたのモデル (パラメータ {params} 個, {layers} 層) · {optimizer} · {steps} ステップ · {status}"},
    "page_rec_readout": {"en": "step {step} / {last} · loss {loss}", "ja": "ステップ {step} / {last} · 損失 {loss}"},
    "page_rec_grad_norm": {"en": "gradient norm", "ja": "勾配ノルム"},
    "page_rec_update_ratio": {"en": "update / weight", "ja": "更新量 / 重み"},
    "page_rec_guide_note": {"en": "Log scales. The red line in the lower chart is the usual guide, update/weight ≈ 1e-3 per step.",
                            "ja": "対数目盛。下のグラフの赤線は 更新量/重み ≈ 1e-3 (1 ステップあたり) の目安。"},
    "page_rec_dist_at": {"en": "at snapshot {snap} (the last saved state at or before step {step}); "
                               "bands: 5-95% and 25-75%, line: median",
                         "ja": "スナップショット {snap} (ステップ {step} 以前で最後に保存した状態); 帯: 5-95% と 25-75%、線: 中央値"},
    "page_rec_weights": {"en": "weights", "ja": "重み"},
    "page_rec_grads": {"en": "gradients", "ja": "勾配"},
    "page_rec_no_grad": {"en": "no gradient at this state", "ja": "この状態には勾配がない"},
    "page_rec_path_note": {"en": "{source}: PC1 {pc1}, PC2 {pc2} of the variance; the dot is the state at or before the page's step.",
                           "ja": "{source}: 分散の 第1主成分 {pc1}, 第2主成分 {pc2}; 点はページのステップ以前の状態。"},
    "page_rec_loss_step": {"en": "loss handed to rec.step", "ja": "rec.step に渡した損失"},
    "page_rec_loss_note": {"en": "Each step's loss as your loop handed it to rec.step(loss): computed before the step's "
                                 "update, on whatever batch that step used. Gaps: steps without rec.step.",
                           "ja": "各ステップの損失 (ループが rec.step(loss) に渡した値): そのステップの更新の前に、そのステップの"
                                 "バッチで計算したもの。途切れ: rec.step のないステップ。"},
    "page_rec_step_of": {"en": "state {state} at (PC1 {x}, PC2 {y})", "ja": "状態 {state} (第1主成分 {x}, 第2主成分 {y})"},
    "page_rec_source_snapshots": {"en": "PCA of the snapshots", "ja": "スナップショットの PCA"},
    "page_rec_source_projection": {"en": "PCA of the random projection of every state", "ja": "全状態のランダム射影の PCA"},
    "page_rec_omit_boundary": {"en": "Left out: the decision boundary, network diagram, loss surface, autograd graph, "
                                     "chain rule and update views need backpropviz's own models and data; a recording "
                                     "of your model has neither its data nor its loss function (no input plane for an "
                                     "image model).",
                               "ja": "省略: 決定境界・ネットワーク図・損失曲面・計算グラフ・連鎖律・更新の表示には backpropviz 自身の"
                                     "モデルとデータが必要。あなたのモデルの記録にはデータも損失関数もない (画像モデルに入力平面はない)。"},
    "page_rec_omit_path": {"en": "Left out: the path on the PCA plane needs 3 snapshots or a projection (record with "
                                 "snapshots=every(k) or projection=k).",
                           "ja": "省略: PCA 平面上の経路には 3 つのスナップショットか射影が必要 (snapshots=every(k) か projection=k で記録)。"},
    "page_status_incomplete": {"en": "This recording has no end line: its loop is still running or stopped; the page shows "
                                  "the {n} steps flushed to disk.",
                            "ja": "この記録には終了行がない: ループは実行中か中断した。ページはディスクに書き出された {n} ステップを表示する。"},
}
